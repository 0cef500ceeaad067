//! S3 event notifications as S3 sends them (to Lambda, or to an SQS queue), for feeding the
//! real front ends in tests.

use serde_json::{Value, json};

use super::aws_env::REGION;

/// A key as S3 event notifications carry it: `+` for spaces, percent-encoding for everything but
/// unreserved characters and `/`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One S3 `ObjectCreated:Put` record, as S3 sends it.
pub fn s3_record(bucket: &str, key: &str) -> Value {
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-11-23T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:TEST"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "audioproc",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_key(key), "size": 1, "eTag": "0", "sequencer": "0A"}
        }
    })
}

/// An S3 event notification for one object.
pub fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [s3_record(bucket, key)]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_notifications_encode_them() {
        assert_eq!(encode_key("in/with space+plus/caf\u{e9}~.wav"), "in/with+space%2Bplus/caf%C3%A9~.wav");
        let event = s3_event("b", "a b.wav");
        assert_eq!(event["Records"][0]["s3"]["object"]["key"], "a+b.wav");
        assert_eq!(event["Records"][0]["s3"]["bucket"]["arn"], "arn:aws:s3:::b");
    }
}
