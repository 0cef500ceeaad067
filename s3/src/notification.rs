//! S3 event notifications: the JSON S3 sends to a Lambda function, an SQS queue or an SNS topic
//! when objects are created, read into the objects they name.
//!
//! Shared by the Lambda function (direct invocations and SQS batches) and the queue worker
//! (`audioproc worker`). Records are read leniently (only the fields used: relays and tools
//! often drop the rest); keys are decoded as S3 encodes them ([`decode_event_key`]).

use serde_json::Value;

use crate::error::S3Error;
use crate::location::{ObjectRef, decode_event_key};

/// What a notification asks for.
#[derive(Debug)]
pub enum Notification {
    /// One entry per `ObjectCreated*` record: the object, or why the record names no usable
    /// object (a permanent failure: the same record will always fail the same way). Records
    /// of other events (`ObjectRemoved*`, ...) are left out, so the list may be empty.
    Objects(Vec<Result<ObjectRef, S3Error>>),
    /// `s3:TestEvent`, sent when a notification is configured: nothing to do.
    Test,
}

/// Reads `body` as an S3 event notification: `{"Records": [...]}` with `eventSource`
/// `"aws:s3"`, or `s3:TestEvent`. An SNS envelope (`"Type": "Notification"`, the notification
/// as the string `Message`), as S3 → SNS → SQS delivers it, is unwrapped first.
///
/// An empty `Records` list, or records whose first one has no `eventSource`, name no objects.
///
/// # Errors
/// A message for a body that is not an S3 event notification (another event source, or no
/// `Records` at all).
pub fn objects_in(body: &Value) -> Result<Notification, String> {
    if body.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    if body.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = body.get("Message").and_then(Value::as_str)
    {
        let inner: Value = serde_json::from_str(message).map_err(|e| format!("SNS message is not JSON: {e}"))?;
        return objects_in(&inner);
    }
    let Some(records) = body.get("Records").and_then(Value::as_array) else {
        return Err("not an S3 event notification (no Records)".to_owned());
    };
    match records.first().map(|r| r.get("eventSource").and_then(Value::as_str)) {
        None | Some(None) => Ok(Notification::Objects(Vec::new())),
        Some(Some("aws:s3")) => Ok(Notification::Objects(
            records
                .iter()
                .filter(|r| str_at(r, &["eventName"]).is_none_or(|n| n.starts_with("ObjectCreated")))
                .map(object_of)
                .collect(),
        )),
        Some(Some(other)) => Err(format!("unsupported event source {other:?}")),
    }
}

/// The object of one S3 record.
fn object_of(record: &Value) -> Result<ObjectRef, S3Error> {
    let bucket = str_at(record, &["s3", "bucket", "name"])
        .ok_or_else(|| S3Error::permanent("S3 record without s3.bucket.name"))?;
    let key = str_at(record, &["s3", "object", "key"])
        .ok_or_else(|| S3Error::permanent("S3 record without s3.object.key"))?;
    let version_id = str_at(record, &["s3", "object", "versionId"]).filter(|v| !v.is_empty());
    Ok(ObjectRef { bucket: bucket.to_owned(), key: decode_event_key(key)?, version_id: version_id.map(str::to_owned) })
}

/// The string at `path` in `v`, if there is one.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn record(name: &str, key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
            "s3": {"bucket": {"name": "in"}, "object": {"key": key, "versionId": "v1"}}})
    }

    fn objects(body: &Value) -> Vec<Result<ObjectRef, S3Error>> {
        match objects_in(body).unwrap() {
            Notification::Objects(o) => o,
            Notification::Test => panic!("a test event"),
        }
    }

    #[test]
    fn created_records_name_decoded_objects() {
        let o = objects(
            &json!({"Records": [record("ObjectCreated:Put", "a+b%2Bc.wav"), record("ObjectRemoved:Delete", "x")]}),
        );
        assert_eq!(o.len(), 1);
        let o = o[0].as_ref().unwrap();
        assert_eq!((o.bucket.as_str(), o.key.as_str(), o.version_id.as_deref()), ("in", "a b+c.wav", Some("v1")));
    }

    #[test]
    fn broken_records_are_permanent_failures_of_their_own() {
        let o = objects(
            &json!({"Records": [record("ObjectCreated:Put", "%FF.wav"), {"eventSource": "aws:s3"}, record("ObjectCreated:Copy", "ok.wav")]}),
        );
        assert!(o[0].as_ref().is_err_and(|e| !e.is_retryable()));
        assert!(o[1].is_err());
        assert_eq!(o[2].as_ref().unwrap().key, "ok.wav");
    }

    #[test]
    fn test_events_sns_envelopes_and_strangers() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"});
        assert!(matches!(objects_in(&test).unwrap(), Notification::Test));
        let sns = json!({"Type": "Notification", "MessageId": "m", "Message": json!({"Records": [record("ObjectCreated:Put", "k.wav")]}).to_string()});
        assert_eq!(objects(&sns)[0].as_ref().unwrap().key, "k.wav");
        assert!(objects(&json!({"Records": []})).is_empty());
        assert!(objects_in(&json!({"Records": [{"eventSource": "aws:sqs"}]})).is_err());
        assert!(objects_in(&json!({"hello": 1})).is_err());
        assert!(objects_in(&json!({"Type": "Notification", "Message": "not json"})).is_err());
    }
}
