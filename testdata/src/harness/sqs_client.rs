//! A blocking SQS client for test code: the AWS SDK pointed at the local moto server (which
//! serves SQS on the same port as S3), with the calls the worker tests make.

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use super::aws_env::{REGION, TEST_CREDENTIAL};

/// A blocking SQS client (moto accepts any credentials). Every call panics on failure.
#[derive(Debug)]
pub struct Sqs {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_sqs::Client,
}

impl Sqs {
    /// A client for the SQS at `endpoint` (e.g. [`super::MotoServer::endpoint`]).
    ///
    /// # Panics
    ///
    /// If the tokio runtime can't be built.
    pub fn new(endpoint: &str) -> Sqs {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the SQS test client");
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(TEST_CREDENTIAL, TEST_CREDENTIAL, None, None, "tests"))
            .build();
        Sqs { rt, client: aws_sdk_sqs::Client::from_conf(config) }
    }

    /// Creates the queue `name` with `attributes`; its URL.
    pub fn create(&self, name: &str, attributes: &[(QueueAttributeName, String)]) -> String {
        let mut req = self.client.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes(k.clone(), v);
        }
        let out = self.rt.block_on(req.send()).unwrap_or_else(|e| panic!("create queue {name}: {e:?}"));
        out.queue_url().expect("CreateQueue answers a queue URL").to_owned()
    }

    /// One attribute of the queue at `url`.
    pub fn attribute(&self, url: &str, name: QueueAttributeName) -> String {
        let req = self.client.get_queue_attributes().queue_url(url).attribute_names(name.clone());
        let out = self.rt.block_on(req.send()).unwrap_or_else(|e| panic!("get {name} of {url}: {e:?}"));
        out.attributes().and_then(|a| a.get(&name)).unwrap_or_else(|| panic!("{url} has no {name}")).clone()
    }

    /// A main queue with a dead-letter queue after `max_receives` receives, both with the
    /// visibility timeout `visibility` (seconds): `(queue URL, DLQ URL)`.
    pub fn with_dlq(&self, name: &str, max_receives: u32, visibility: &str) -> (String, String) {
        let visibility = (QueueAttributeName::VisibilityTimeout, visibility.to_owned());
        let dlq = self.create(&format!("{name}-dlq"), std::slice::from_ref(&visibility));
        let dlq_arn = self.attribute(&dlq, QueueAttributeName::QueueArn);
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()}).to_string();
        let queue = self.create(name, &[visibility, (QueueAttributeName::RedrivePolicy, redrive)]);
        (queue, dlq)
    }

    /// Sends one message.
    pub fn send(&self, url: &str, body: &str) {
        self.rt
            .block_on(self.client.send_message().queue_url(url).message_body(body).send())
            .unwrap_or_else(|e| panic!("send to {url}: {e:?}"));
    }

    /// Messages visible + in flight.
    ///
    /// # Panics
    ///
    /// Also if SQS answers a count that is not a number.
    pub fn count(&self, url: &str) -> u64 {
        [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
            .into_iter()
            .map(|a| self.attribute(url, a).parse::<u64>().expect("a message count"))
            .sum()
    }

    /// Receives every message there is now (visible ones, up to 10), without deleting them;
    /// they stay invisible for 30 s.
    pub fn bodies(&self, url: &str) -> Vec<String> {
        let req = self.client.receive_message().queue_url(url).max_number_of_messages(10).visibility_timeout(30);
        let out = self.rt.block_on(req.send()).unwrap_or_else(|e| panic!("receive from {url}: {e:?}"));
        out.messages().iter().map(|m| m.body().unwrap_or_default().to_owned()).collect()
    }
}
