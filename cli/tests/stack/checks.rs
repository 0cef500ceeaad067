//! The properties the deployment relies on, one check per concern; each panics with what is
//! wrong. `CHECKS` names them for the tests (and for the edits that must make each one fail).

use std::time::Duration;

use audioproc_testdata::harness::loop_guard::assert_bucket_guards_trigger;
use audioproc_testdata::harness::systemd_unit::written_file;
use audioproc_testdata::harness::yaml_tree::Yaml;
use audioproc_web::server::DRAIN_NOTICE;

use super::templates::{SOURCES, Templates, get_att, reference, resources_of_type, text};

/// The processor settings the app must announce exactly as the processor applies them.
const SPEC_PARAMETERS: [&str; 6] = ["Preset", "Format", "Mode", "TargetLufs", "TruePeakDbtp", "SampleRate"];

fn check_https_and_redirect(t: &Templates) {
    let listeners = resources_of_type(t, "edge.yaml", "AWS::ElasticLoadBalancingV2::Listener");
    assert_eq!(listeners.len(), 2, "exactly the HTTPS listener and the redirect: {listeners:?}");
    let https = t.props("edge.yaml", "HttpsListener");
    assert_eq!((text(https.get("Protocol")), text(https.get("Port"))), (Some("HTTPS"), Some("443")));
    assert!(text(https.get("SslPolicy")).is_some_and(|p| p.starts_with("ELBSecurityPolicy-TLS13")), "{https:?}");
    let certificates = https.get("Certificates").map_or(&[][..], Yaml::items);
    assert_eq!(certificates.len(), 1);
    assert_eq!(reference(certificates[0].get("CertificateArn")), Some("CertificateArn"));
    assert_eq!(reference(t.nested("Edge", "edge.yaml").get("CertificateArn")), Some("CertificateArn"));
    let forward = https.get("DefaultActions").map_or(&[][..], Yaml::items);
    assert_eq!(forward.len(), 1);
    assert_eq!(
        (text(forward[0].get("Type")), reference(forward[0].get("TargetGroupArn"))),
        (Some("forward"), Some("TargetGroup"))
    );
    let http = t.props("edge.yaml", "HttpListener");
    assert_eq!((text(http.get("Protocol")), text(http.get("Port"))), (Some("HTTP"), Some("80")));
    let redirect = http.get("DefaultActions").map_or(&[][..], Yaml::items);
    assert_eq!(redirect.len(), 1, "HTTP only redirects");
    assert_eq!(text(redirect[0].get("Type")), Some("redirect"));
    let config = redirect[0].get("RedirectConfig").expect("no RedirectConfig");
    assert_eq!(
        (text(config.get("Protocol")), text(config.get("Port")), text(config.get("StatusCode"))),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );
}

fn check_health_and_drain(t: &Templates) {
    let group = t.props("edge.yaml", "TargetGroup");
    assert_eq!(text(group.get("HealthCheckPath")), Some("/readyz"));
    let (unit, _) = t.app_unit();
    let listen = unit.variable("AUDIOPROC_LISTEN").expect("no AUDIOPROC_LISTEN");
    assert_eq!(
        listen,
        format!("0.0.0.0:{}", text(group.get("Port")).unwrap_or_default()),
        "the app listens where the targets are"
    );
    let attributes = group.get("TargetGroupAttributes").map_or(&[][..], Yaml::items);
    let delay = attributes
        .iter()
        .find(|a| text(a.get("Key")) == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.get("Value"))
        .expect("no deregistration delay");
    // The value the stack deploys: a parameter of edge.yaml, which stack.yaml may override.
    let delay: u64 = match delay.reference() {
        Some(p) => text(t.nested("Edge", "edge.yaml").get(p))
            .or_else(|| text(t.get("edge.yaml").at(&["Parameters", p, "Default"])))
            .expect("deregistration delay parameter without a value"),
        None => delay.str().expect("deregistration delay"),
    }
    .parse()
    .expect("deregistration delay in seconds");
    let grace: u64 =
        unit.variable("AUDIOPROC_DRAIN_GRACE").expect("no AUDIOPROC_DRAIN_GRACE").parse().expect("seconds");
    let drain = DRAIN_NOTICE + Duration::from_secs(grace);
    assert!(Duration::from_secs(delay) >= drain, "deregistration delay {delay} s < the app's drain {drain:?}");
}

fn check_group(t: &Templates) {
    let group = t.props("app.yaml", "AppGroup");
    assert_eq!(reference(group.get("VPCZoneIdentifier")), Some("PrivateSubnets"));
    // stack.yaml gives two private subnets: its own network's (one per zone) or the given two.
    let mut two_zones = 0;
    for subnets in t.nested("App", "app.yaml").get("PrivateSubnets").expect("App: no PrivateSubnets").alternatives() {
        if let Some(("Network", "Outputs.PrivateSubnets")) = get_att(subnets) {
            let joined = t.get("network.yaml").at(&["Outputs", "PrivateSubnets", "Value", "Fn::Join"]).expect("join");
            let names: Vec<&str> = joined.items()[1].items().iter().filter_map(Yaml::reference).collect();
            let zones: Vec<Option<&str>> = names
                .iter()
                .map(|n| t.props("network.yaml", n).at(&["AvailabilityZone", "Fn::Select"]))
                .map(|select| select.and_then(|s| s.items().first()).and_then(Yaml::str))
                .collect();
            assert_eq!(zones, [Some("0"), Some("1")], "the network's private subnets {names:?} sit in two zones");
        } else {
            let joined = subnets.get("Fn::Join").expect("private subnets: a join of two");
            let names: Vec<&str> = joined.items()[1].items().iter().filter_map(Yaml::reference).collect();
            assert_eq!(names, ["PrivateSubnet1", "PrivateSubnet2"]);
        }
        two_zones += 1;
    }
    assert_eq!(two_zones, 2, "made or given, nothing else");
    let targets = group.get("TargetGroupARNs").map_or(&[][..], Yaml::items);
    assert_eq!(targets.iter().filter_map(Yaml::reference).collect::<Vec<_>>(), ["TargetGroupArn"]);
    // Rolling deploys: one at a time, MinSize (at least 1) in service, each new instance signals
    // its readiness; instance refreshes and replacements launch before they terminate.
    let rolling = t
        .get("app.yaml")
        .at(&["Resources", "AppGroup", "UpdatePolicy", "AutoScalingRollingUpdate"])
        .expect("no rolling update");
    assert_eq!(text(rolling.get("MaxBatchSize")), Some("1"));
    assert_eq!(reference(rolling.get("MinInstancesInService")), Some("MinSize"));
    assert!(text(t.get("app.yaml").at(&["Parameters", "MinSize", "MinValue"])).is_some_and(|v| v != "0"));
    assert_eq!(text(rolling.get("WaitOnResourceSignals")), Some("true"));
    let maintenance = group.get("InstanceMaintenancePolicy").expect("no InstanceMaintenancePolicy");
    let percent = |key| text(maintenance.get(key)).and_then(|v| v.parse::<u32>().ok()).unwrap_or_default();
    assert!(percent("MinHealthyPercentage") >= 100 && percent("MaxHealthyPercentage") > 100, "{maintenance:?}");
    let (_, script) = t.app_unit();
    assert!(script.contains("--logical-resource-id AppGroup") && script.contains("http://127.0.0.1:8080/readyz"));
    // Two target-tracking policies on the group: requests per target, and CPU.
    let mut metrics: Vec<&str> = resources_of_type(t, "app.yaml", "AWS::AutoScaling::ScalingPolicy")
        .into_iter()
        .map(|(_, policy)| policy.get("Properties").expect("policy properties"))
        .inspect(|p| assert_eq!(reference(p.get("AutoScalingGroupName")), Some("AppGroup")))
        .inspect(|p| assert_eq!(text(p.get("PolicyType")), Some("TargetTrackingScaling")))
        .filter_map(|p| {
            text(p.at(&["TargetTrackingConfiguration", "PredefinedMetricSpecification", "PredefinedMetricType"]))
        })
        .collect();
    metrics.sort_unstable();
    assert_eq!(metrics, ["ALBRequestCountPerTarget", "ASGAverageCPUUtilization"]);
    let label = t.nested("App", "app.yaml").get("RequestCountLabel").and_then(get_att);
    assert_eq!(label, Some(("Edge", "Outputs.RequestCountLabel")));
    let edge_label = t.get("edge.yaml").at(&["Outputs", "RequestCountLabel", "Value"]).and_then(Yaml::sub_template);
    assert_eq!(edge_label, Some("${LoadBalancer.LoadBalancerFullName}/${TargetGroup.TargetGroupFullName}"));
}

fn check_database(t: &Templates) {
    let db = t.props("data.yaml", "Database");
    for (key, value) in [("MultiAZ", "true"), ("StorageEncrypted", "true"), ("PubliclyAccessible", "false")] {
        assert_eq!(text(db.get(key)), Some(value), "Database.{key}");
    }
    let subnets = t.props("data.yaml", "DatabaseSubnetGroup");
    assert_eq!(reference(db.get("DBSubnetGroupName")), Some("DatabaseSubnetGroup"));
    assert_eq!(reference(subnets.get("SubnetIds")), Some("PrivateSubnets"));
    assert_eq!(
        t.nested("Database", "data.yaml").get("PrivateSubnets"),
        t.nested("App", "app.yaml").get("PrivateSubnets")
    );
    let groups: Vec<&str> =
        db.get("VPCSecurityGroups").map_or(&[][..], Yaml::items).iter().filter_map(Yaml::reference).collect();
    assert_eq!(groups, ["DatabaseSecurityGroup"]);
    let ingress = t
        .props("data.yaml", "DatabaseSecurityGroup")
        .get("SecurityGroupIngress")
        .map_or(vec![], Yaml::each_alternative);
    assert!(!ingress.is_empty());
    for rule in ingress {
        let keys: Vec<&str> = rule.entries().iter().map(|(k, _)| k.as_str()).collect();
        assert!(!keys.iter().any(|k| k.starts_with("Cidr") || k.starts_with("SourcePrefixList")), "{rule:?}");
        assert_eq!(reference(rule.get("SourceSecurityGroupId")), Some("AppSecurityGroupId"), "{rule:?}");
        assert_eq!((text(rule.get("FromPort")), text(rule.get("ToPort"))), (Some("5432"), Some("5432")));
    }
    for file in ["data.yaml", "edge.yaml", "app.yaml", "network.yaml"] {
        assert!(resources_of_type(t, file, "AWS::EC2::SecurityGroupIngress").is_empty(), "{file}: extra ingress");
    }
    // The group the database admits is the one the app instances wear.
    let app_group = Some(("Edge", "Outputs.AppSecurityGroupId"));
    assert_eq!(t.nested("Database", "data.yaml").get("AppSecurityGroupId").and_then(get_att), app_group);
    assert_eq!(t.nested("App", "app.yaml").get("AppSecurityGroupId").and_then(get_att), app_group);
    assert_eq!(reference(t.get("edge.yaml").at(&["Outputs", "AppSecurityGroupId", "Value"])), Some("AppSecurityGroup"));
    let worn = t
        .props("app.yaml", "AppLaunchTemplate")
        .at(&["LaunchTemplateData", "SecurityGroupIds"])
        .map_or(&[][..], Yaml::items);
    assert_eq!(worn.iter().filter_map(Yaml::reference).collect::<Vec<_>>(), ["AppSecurityGroupId"]);
    // TLS required; the password generated into the secret and read from it.
    assert_eq!(reference(db.get("DBParameterGroupName")), Some("DatabaseParameters"));
    assert_eq!(text(t.props("data.yaml", "DatabaseParameters").at(&["Parameters", "rds.force_ssl"])), Some("1"));
    let password = db.get("MasterUserPassword").and_then(Yaml::sub_template);
    assert_eq!(password, Some("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}"));
    let secret = t.props("data.yaml", "DatabaseSecret");
    assert_eq!(text(secret.at(&["GenerateSecretString", "GenerateStringKey"])), Some("password"));
}

fn check_app_reads_secret_at_start(t: &Templates) {
    let (unit, script) = t.app_unit();
    assert_eq!(unit.value("Service", "ExecStartPre"), Some("+/opt/audioproc/bin/database-env"));
    let files = unit.values("Service", "EnvironmentFile");
    let file = files
        .iter()
        .map(|f| f.trim_start_matches('-'))
        .find(|f| f.starts_with("/run/"))
        .expect("no EnvironmentFile under /run");
    let fetch =
        written_file(&script, "/opt/audioproc/bin/database-env").expect("the user data doesn't write database-env");
    assert!(
        fetch.contains("umask 077")
            && fetch.contains(&format!("> {file}.new"))
            && fetch.contains(&format!("mv {file}.new {file}")),
        "{fetch}"
    );
    assert!(
        fetch.contains("aws secretsmanager get-secret-value") && fetch.contains("--secret-id '${DatabaseSecretArn}'"),
        "{fetch}"
    );
    assert!(fetch.contains("AUDIOPROC_DATABASE_URL=postgres://") && fetch.contains("?sslmode=require"), "{fetch}");
    assert_eq!(
        t.nested("App", "app.yaml").get("DatabaseSecretArn").and_then(get_att),
        Some(("Database", "Outputs.DatabaseSecretArn"))
    );
    assert_eq!(reference(t.get("data.yaml").at(&["Outputs", "DatabaseSecretArn", "Value"])), Some("DatabaseSecret"));
}

fn check_unit(t: &Templates) {
    let (unit, script) = t.app_unit();
    assert_eq!(unit.value("Service", "Restart"), Some("always"), "{unit:#?}");
    assert_eq!(unit.value("Service", "KillSignal"), Some("SIGTERM"), "{unit:#?}");
    assert_eq!(unit.value("Service", "ExecStart"), Some("/opt/audioproc/bin/audioproc serve"));
    let stop = unit.seconds("Service", "TimeoutStopSec").expect("no TimeoutStopSec in seconds");
    let grace: u64 =
        unit.variable("AUDIOPROC_DRAIN_GRACE").expect("no AUDIOPROC_DRAIN_GRACE").parse().expect("seconds");
    assert!(
        stop >= 45 && Duration::from_secs(stop) > DRAIN_NOTICE + Duration::from_secs(grace),
        "TimeoutStopSec={stop}"
    );
    assert_eq!(unit.variable("AUDIOPROC_SECURE_COOKIES").as_deref(), Some("true"));
    assert_eq!(unit.value("Install", "WantedBy"), Some("multi-user.target"));
    assert!(script.lines().any(|l| l == "systemctl enable --now audioproc-serve.service"));
}

fn check_bucket(t: &Templates) {
    let buckets: Vec<&str> = SOURCES
        .iter()
        .filter(|(f, _)| !resources_of_type(t, f, "AWS::S3::Bucket").is_empty())
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(buckets, ["bucket.yaml"], "one definition of the bucket");
    let bucket = t.props("bucket.yaml", "Bucket");
    let block = bucket.get("PublicAccessBlockConfiguration").expect("no PublicAccessBlockConfiguration");
    for key in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(text(block.get(key)), Some("true"), "{key}");
    }
    let sse = bucket.at(&["BucketEncryption", "ServerSideEncryptionConfiguration"]).map_or(&[][..], Yaml::items);
    assert!(
        sse.iter().any(|c| matches!(
            text(c.at(&["ServerSideEncryptionByDefault", "SSEAlgorithm"])),
            Some("AES256" | "aws:kms")
        ))
    );
    let rules = bucket.at(&["LifecycleConfiguration", "Rules"]).map_or(&[][..], Yaml::items);
    assert!(rules.iter().any(|r| text(r.get("Status")) == Some("Enabled")
        && text(r.at(&["AbortIncompleteMultipartUpload", "DaysAfterInitiation"])).is_some_and(|d| d != "0")));
    // CORS: the app's origin only, PUT only, the ETag readable.
    let cors: Vec<&Yaml> = bucket.get("CorsConfiguration").map_or(vec![], Yaml::alternatives);
    assert_eq!(cors.len(), 1, "CORS is set, or absent (no origin): {cors:?}");
    let cors_rules = cors[0].get("CorsRules").map_or(&[][..], Yaml::items);
    assert_eq!(cors_rules.len(), 1);
    let list = |key: &str| -> Vec<&Yaml> { cors_rules[0].get(key).map_or(vec![], Yaml::each_alternative) };
    assert_eq!(list("AllowedOrigins").iter().map(|o| o.reference()).collect::<Vec<_>>(), [Some("AllowedOrigin")]);
    assert_eq!(list("AllowedMethods").iter().map(|m| m.str()).collect::<Vec<_>>(), [Some("PUT")]);
    assert_eq!(list("AllowedHeaders").iter().map(|m| m.str()).collect::<Vec<_>>(), [Some("content-type")]);
    assert!(list("ExposedHeaders").iter().any(|h| h.str() == Some("ETag")));
    let origin = t.nested("Storage", "bucket.yaml").get("AllowedOrigin").and_then(Yaml::sub_template);
    let url =
        t.get("stack.yaml").at(&["Outputs", "AppUrl", "Value"]).and_then(Yaml::sub_template).expect("no AppUrl output");
    assert_eq!(origin, Some("https://${DomainName}"));
    assert_eq!(url.strip_suffix('/'), origin, "the origin is the app's URL's");
}

fn check_processing_wiring(t: &Templates) {
    assert_bucket_guards_trigger(t.get("bucket.yaml"));
    let storage = t.nested("Storage", "bucket.yaml");
    for name in ["BucketName", "InputPrefix", "OutputPrefix"] {
        assert_eq!(reference(storage.get(name)), Some(name), "Storage.{name}");
    }
    let triggers: Vec<Option<&str>> =
        storage.get("Trigger").map_or(vec![], Yaml::alternatives).into_iter().map(Yaml::str).collect();
    assert_eq!(triggers, [Some("lambda"), Some("queue"), Some("none")]);
    let arns: Vec<Option<(&str, &str)>> =
        storage.get("TriggerArn").map_or(vec![], Yaml::alternatives).into_iter().map(get_att).collect();
    assert_eq!(
        arns,
        [Some(("LambdaProcessor", "Outputs.TriggerArn")), Some(("WorkerProcessor", "Outputs.TriggerArn")), None]
    );
    for (name, location) in [("LambdaProcessor", "lambda.yaml"), ("WorkerProcessor", "workers.yaml")] {
        let p = t.nested(name, location);
        assert_eq!(text(p.get("CreateInputBucket")), Some("false"), "{name}: the bucket is Storage");
        assert_eq!(reference(p.get("InputBucketName")), Some("BucketName"));
        for prefix in ["InputPrefix", "OutputPrefix"] {
            assert_eq!(reference(p.get(prefix)), Some(prefix), "{name}.{prefix}");
        }
    }
    // Status events exactly when a processor other than the app runs; the app follows them.
    let app = t.nested("App", "app.yaml");
    let events = storage.get("StatusEvents").and_then(Yaml::intrinsic).expect("StatusEvents: Fn::If");
    let process = app.get("Process").and_then(Yaml::intrinsic).expect("Process: Fn::If");
    assert_eq!(text(events.1.items().first()), text(process.1.items().first()), "one condition for both");
    assert_eq!(events.1.items()[1..].iter().map(Yaml::str).collect::<Vec<_>>(), [Some("false"), Some("true")]);
    assert_eq!(process.1.items()[1..].iter().map(Yaml::str).collect::<Vec<_>>(), [Some("local"), Some("external")]);
    let queue: Vec<Option<(&str, &str)>> =
        app.get("EventsQueueUrl").map_or(vec![], Yaml::alternatives).into_iter().map(get_att).collect();
    assert_eq!(queue, [None, Some(("Storage", "Outputs.EventsQueueUrl"))]);
    let (unit, _) = t.app_unit();
    for (var, value) in [
        ("AUDIOPROC_PROCESS", "${Process}"),
        ("AUDIOPROC_EVENTS_QUEUE", "${EventsQueueUrl}"),
        ("AUDIOPROC_BUCKET", "s3://${BucketName}/${InputPrefix}"),
        ("AUDIOPROC_OUTPUT", "s3://${BucketName}/${OutputPrefix}"),
    ] {
        assert_eq!(unit.variable(var).as_deref(), Some(value), "{var}");
    }
}

fn check_same_settings(t: &Templates) {
    let (unit, _) = t.app_unit();
    let function = t.props("lambda.yaml", "Function").at(&["Environment", "Variables"]).expect("function variables");
    for parameter in SPEC_PARAMETERS {
        for (name, location) in [("App", "app.yaml"), ("LambdaProcessor", "lambda.yaml")] {
            assert_eq!(reference(t.nested(name, location).get(parameter)), Some(parameter), "{name}.{parameter}");
        }
        // The app reads the variable the function reads, set from the same parameter.
        let (var, _) =
            function.entries().iter().find(|(_, v)| v.reference() == Some(parameter)).expect("function variable");
        assert_eq!(unit.variable(var), Some(format!("${{{parameter}}}")), "{var}");
    }
    let workers = t.nested("WorkerProcessor", "workers.yaml");
    let (taken, refused): (Vec<&str>, Vec<&str>) = SPEC_PARAMETERS.into_iter().partition(|p| workers.get(p).is_some());
    assert_eq!(taken, ["Preset", "Format", "Mode"]);
    let rule =
        t.get("stack.yaml").at(&["Rules", "WorkersTakePresetSettings"]).expect("no rule for the workers' settings");
    let empty: Vec<&str> = rule.at(&["Assertions"]).map_or(&[][..], Yaml::items)[0]
        .at(&["Assert", "Fn::And"])
        .map_or(&[][..], Yaml::items)
        .iter()
        .filter_map(|e| e.get("Fn::Equals"))
        .filter(|e| e.items().get(1).and_then(Yaml::str) == Some(""))
        .filter_map(|e| e.items().first().and_then(Yaml::reference))
        .collect();
    assert_eq!(empty, refused, "with workers, the settings they can't take must be empty");
}

fn check_app_policy(t: &Templates) {
    let statements = t.app_statements();
    let object = |prefix: &str| format!("arn:${{AWS::Partition}}:s3:::${{BucketName}}/${{{prefix}}}*");
    let prefixes = [object("InputPrefix"), object("OutputPrefix")];
    let mut granted: Vec<(String, String)> = Vec::new();
    for statement in &statements {
        assert_eq!(text(statement.get("Effect")), Some("Allow"), "{statement:?}");
        let actions: Vec<&str> =
            statement.get("Action").map_or(vec![], Yaml::each_alternative).into_iter().filter_map(Yaml::str).collect();
        let resources: Vec<String> = statement
            .get("Resource")
            .map_or(vec![], Yaml::each_alternative)
            .into_iter()
            .map(|r| r.sub_template().or(r.reference()).or(r.str()).unwrap_or_default().to_owned())
            .collect();
        assert!(!actions.is_empty() && !resources.is_empty(), "{statement:?}");
        for action in &actions {
            assert!(!action.contains('*'), "wildcard action {action}");
            for resource in &resources {
                assert_ne!(resource, "*", "{action} on every resource");
                granted.push(((*action).to_owned(), resource.clone()));
            }
        }
    }
    for (action, resource) in &granted {
        match action.as_str() {
            "s3:DeleteObject" | "s3:PutObject" | "s3:AbortMultipartUpload" | "s3:ListMultipartUploadParts" => {
                assert!(prefixes.contains(resource), "{action} outside the app's prefixes: {resource}");
            }
            "s3:ListBucket" => assert_eq!(resource, "arn:${AWS::Partition}:s3:::${BucketName}"),
            "s3:GetObject" => {
                assert!(prefixes.contains(resource) || resource == "arn:${AWS::Partition}:s3:::${BucketAndKey}")
            }
            "sqs:ReceiveMessage" | "sqs:DeleteMessage" | "sqs:GetQueueAttributes" => {
                assert_eq!(resource, "EventsQueueArn")
            }
            "secretsmanager:GetSecretValue" => assert_eq!(resource, "DatabaseSecretArn"),
            "cloudformation:SignalResource" => assert_eq!(resource, "AWS::StackId"),
            other => panic!("the app is granted {other}, which it doesn't use"),
        }
    }
    let has = |action: &str, resource: &str| granted.contains(&(action.to_owned(), resource.to_owned()));
    for action in
        ["s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload", "s3:GetObject", "s3:DeleteObject"]
    {
        assert!(has(action, &prefixes[0]), "the app needs {action} on its uploads");
    }
    assert!(has("s3:GetObject", &prefixes[1]) && has("s3:DeleteObject", &prefixes[1]));
    for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
        assert!(has(action, "EventsQueueArn"), "{action}");
    }
    assert!(has("secretsmanager:GetSecretValue", "DatabaseSecretArn"));
}

fn check_outputs(t: &Templates) {
    let url = t.get("stack.yaml").at(&["Outputs", "AppUrl", "Value"]).and_then(Yaml::sub_template);
    assert_eq!(url, Some("https://${DomainName}/"));
}

/// A check: panics with what is wrong.
pub type Check = fn(&Templates);

/// Every check, by the name the edits in `checks_catch_broken_templates` use.
pub const CHECKS: [(&str, Check); 11] = [
    ("https", check_https_and_redirect),
    ("health", check_health_and_drain),
    ("group", check_group),
    ("database", check_database),
    ("secret", check_app_reads_secret_at_start),
    ("unit", check_unit),
    ("bucket", check_bucket),
    ("processing", check_processing_wiring),
    ("settings", check_same_settings),
    ("policy", check_app_policy),
    ("outputs", check_outputs),
];
