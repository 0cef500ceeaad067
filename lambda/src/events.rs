//! Recognising the events the function accepts and extracting the objects they name.

use audioproc_s3::notification::{Notification, objects_in, str_at};
use audioproc_s3::{ObjectRef, S3Error, decode_event_key};
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

/// One object an event asks for, with its key already decoded.
pub type Target = Result<ObjectRef, S3Error>;

/// What arrived.
#[derive(Debug)]
pub enum Incoming {
    /// S3 notification records (direct, or forwarded by EventBridge).
    Objects(Vec<Target>),
    /// SQS messages: `(message id, the objects of its S3 notification, or why it is poison)`.
    Sqs(Vec<(String, Result<Vec<Target>, String>)>),
    /// An S3 Batch Operations job invocation.
    Batch(BatchInvocation),
    /// `s3:TestEvent`: nothing to do.
    Test,
}

/// An S3 Batch Operations invocation.
#[derive(Debug)]
pub struct BatchInvocation {
    /// `invocationSchemaVersion` ("1.0" or "2.0").
    pub schema: String,
    /// `invocationId`, echoed in the answer.
    pub invocation_id: String,
    /// `(taskId, object)` per task.
    pub tasks: Vec<(String, Target)>,
}

/// Recognises `event`.
///
/// # Errors
/// A message for a payload that is none of the accepted shapes.
pub fn parse(event: &Value) -> Result<Incoming, String> {
    if is_test_event(event) {
        return Ok(Incoming::Test);
    }
    if let Some(version) = event.get("invocationSchemaVersion").and_then(Value::as_str) {
        return parse_batch(event, version);
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        return parse_eventbridge(event).map(|t| Incoming::Objects(vec![t]));
    }
    let first_source = event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str);
    match first_source {
        Some("aws:sqs") => {
            let sqs: SqsEvent = serde_json::from_value(event.clone()).map_err(|e| format!("SQS event: {e}"))?;
            Ok(Incoming::Sqs(
                sqs.records
                    .into_iter()
                    .map(|m| {
                        let id = m.message_id.unwrap_or_default();
                        let objects = m
                            .body
                            .ok_or_else(|| "message without a body".to_owned())
                            .and_then(|b| {
                                serde_json::from_str::<Value>(&b).map_err(|e| format!("body is not JSON: {e}"))
                            })
                            .and_then(|body| match parse(&body)? {
                                Incoming::Objects(t) => Ok(t),
                                Incoming::Test => Ok(Vec::new()),
                                _ => Err("body is not an S3 event notification".to_owned()),
                            });
                        (id, objects)
                    })
                    .collect(),
            ))
        }
        _ if event.get("Records").is_none() && event.get("Type").is_none() => {
            Err("not an S3, SQS, EventBridge or S3 Batch Operations event".to_owned())
        }
        // S3 notifications (or an SNS envelope of one): read as the queue worker reads them.
        _ => match objects_in(event)? {
            Notification::Objects(targets) => Ok(Incoming::Objects(targets)),
            Notification::Test => Ok(Incoming::Test),
        },
    }
}

fn is_test_event(event: &Value) -> bool {
    event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

fn parse_eventbridge(event: &Value) -> Result<Target, String> {
    if event.get("detail-type").and_then(Value::as_str) != Some("Object Created") {
        return Err(format!("EventBridge event {:?} is not \"Object Created\"", event.get("detail-type")));
    }
    let bucket = str_at(event, &["detail", "bucket", "name"]).ok_or("EventBridge event without detail.bucket.name")?;
    let key = str_at(event, &["detail", "object", "key"]).ok_or("EventBridge event without detail.object.key")?;
    let version = str_at(event, &["detail", "object", "version-id"]).map(str::to_owned);
    Ok(decode_event_key(key).map(|key| ObjectRef { bucket: bucket.to_owned(), key, version_id: version }))
}

fn parse_batch(event: &Value, version: &str) -> Result<Incoming, String> {
    if version != "1.0" && version != "2.0" {
        return Err(format!("S3 Batch Operations schema {version:?} is not supported (1.0 and 2.0 are)"));
    }
    let invocation_id =
        str_at(event, &["invocationId"]).ok_or("Batch Operations event without invocationId")?.to_owned();
    let tasks = event.get("tasks").and_then(Value::as_array).ok_or("Batch Operations event without tasks")?;
    let tasks = tasks
        .iter()
        .map(|t| {
            let id = str_at(t, &["taskId"]).unwrap_or_default().to_owned();
            // 1.0 names the bucket by ARN; 2.0 by name (s3Bucket), keeping the ARN optional.
            let bucket = str_at(t, &["s3Bucket"])
                .map(str::to_owned)
                .or_else(|| str_at(t, &["s3BucketArn"]).map(|a| a.rsplit(':').next().unwrap_or(a).to_owned()));
            let target = match (bucket, str_at(t, &["s3Key"])) {
                (Some(bucket), Some(key)) => decode_event_key(key).map(|key| ObjectRef {
                    bucket,
                    key,
                    version_id: str_at(t, &["s3VersionId"]).filter(|v| !v.is_empty()).map(str::to_owned),
                }),
                _ => Err(S3Error::permanent("task without s3Key and s3Bucket/s3BucketArn")),
            };
            (id, target)
        })
        .collect();
    Ok(Incoming::Batch(BatchInvocation { schema: version.to_owned(), invocation_id, tasks }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(bucket: &str, key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 10, "eTag": "abc", "sequencer": "00"}}})
    }

    #[test]
    fn s3_notifications_decode_keys() {
        let Incoming::Objects(t) = parse(&json!({"Records": [s3_record("in", "a+b%2Bc.wav")]})).unwrap() else {
            panic!()
        };
        assert_eq!(t[0].as_ref().unwrap().key, "a b+c.wav");
    }

    #[test]
    fn test_events_are_recognised_directly_and_in_sqs() {
        let test =
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T10:00:00Z", "Bucket": "in"});
        assert!(matches!(parse(&test).unwrap(), Incoming::Test));
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": test.to_string()}]});
        let Incoming::Sqs(m) = parse(&sqs).unwrap() else { panic!() };
        assert!(m[0].1.as_ref().unwrap().is_empty());
    }

    #[test]
    fn sqs_poison_is_per_message() {
        let good = json!({"Records": [s3_record("in", "x.wav")]}).to_string();
        let sqs = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": good},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": "not json"}]});
        let Incoming::Sqs(m) = parse(&sqs).unwrap() else { panic!() };
        assert!(m[0].1.is_ok() && m[1].1.is_err());
    }

    #[test]
    fn eventbridge_and_batch() {
        let eb = json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "in"}, "object": {"key": "a%20b.wav", "size": 5}}});
        let Incoming::Objects(t) = parse(&eb).unwrap() else { panic!() };
        assert_eq!(t[0].as_ref().unwrap().key, "a b.wav");
        let b1 = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "j"},
            "tasks": [{"taskId": "t1", "s3Key": "x%2By.wav", "s3VersionId": null, "s3BucketArn": "arn:aws:s3:::in"}]});
        let Incoming::Batch(b) = parse(&b1).unwrap() else { panic!() };
        assert_eq!(
            (b.tasks[0].1.as_ref().unwrap().bucket.as_str(), b.tasks[0].1.as_ref().unwrap().key.as_str()),
            ("in", "x+y.wav")
        );
        let b2 = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv", "job": {"id": "j", "userArguments": {}},
            "tasks": [{"taskId": "t1", "s3Key": "k.wav", "s3VersionId": "v1", "s3Bucket": "in"}]});
        let Incoming::Batch(b) = parse(&b2).unwrap() else { panic!() };
        assert_eq!(b.tasks[0].1.as_ref().unwrap().version_id.as_deref(), Some("v1"));
        assert!(parse(&json!({"invocationSchemaVersion": "3.0"})).is_err());
        assert!(parse(&json!({"hello": 1})).is_err());
    }
}
