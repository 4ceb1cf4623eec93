//! Admin round trips against moto: the admin functions over the real adapters, and the real
//! `outbox-admin` binary as an operator runs it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use outbox_tests::outbox::adapters::secrets_manager::SecretsManager;
use outbox_tests::outbox::adapters::sqs::SqsQueue;
use outbox_tests::outbox::admin::{self, AdminError, NewPhone, ProviderInput, ReplaySelection};
use outbox_tests::outbox::domain::ids::{OrgId, PhoneId, QueueId};
use outbox_tests::outbox::domain::job::Job;
use outbox_tests::outbox::domain::message::{AttemptOutcome, MessageRecord, Status};
use outbox_tests::outbox::domain::tenant::WhatsappCloudSecrets;
use outbox_tests::outbox::local::LOCAL_ORG;
use outbox_tests::outbox::net::egress::Egress;
use outbox_tests::outbox::ports::{
    AttemptResult, Clock, SecretError, SecretStore, StatusStore, SystemClock, TenantStore,
};
use outbox_tests::{Consumers, Stack, StackOptions, moto_endpoint};
use reqwest::StatusCode;
use serde_json::json;

/// `target/<profile>/outbox-admin`, next to this test binary's `deps/` folder.
fn admin_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let binary = dir.join("outbox-admin");
    assert!(binary.exists(), "{} is missing: run `cargo build -p outbox-admin` (make test does)", binary.display());
    binary
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    fn ok(self) -> Run {
        assert!(self.success, "outbox-admin failed:\n{}{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `outbox-admin` against the stack's resources, configured as on a laptop.
async fn outbox_admin(stack: &Stack, args: &[&str]) -> Run {
    outbox_admin_with(stack, args, &[], "").await
}

/// `outbox_admin` with more environment variables and `stdin` as its standard input.
async fn outbox_admin_with(stack: &Stack, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(admin_binary())
        .args(args)
        .env("AWS_ENDPOINT_URL", moto_endpoint())
        .env("OUTBOX_LOCAL_PREFIX", &stack.prefix)
        .env_remove("OUTBOX_TABLE")
        .env_remove("RUST_LOG")
        .env_remove("OUTBOX_ALLOW_PRIVATE_TARGETS")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run outbox-admin");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).await.expect("write stdin");
    drop(input);
    let output = child.wait_with_output().await.expect("outbox-admin output");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn without_consumers() -> StackOptions {
    StackOptions { consumers: Consumers::None, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_made_with_the_cli_sends_until_it_is_revoked() {
    let stack = Stack::start_with(without_consumers()).await;
    let org = outbox_admin(&stack, &["org", "create", "--name", "Acme Support"]).await.ok().last_line().to_string();
    assert!(org.starts_with("org-"), "{org}");
    let key = outbox_admin(&stack, &["key", "create", "--org", &org, "--rate-limit", "120"]).await.ok();
    let key = key.last_line().to_string();
    assert!(key.starts_with("obx_"), "{key}");
    outbox_admin(&stack, &["phone", "add", "--org", &org, "--number", "15550100077", "--provider", "sandbox"])
        .await
        .ok();

    let (code, accepted) = stack.send_as(&key, json!({"chat_id": "919537851844", "message": "hi"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");

    let listed = outbox_admin(&stack, &["key", "list", "--org", &org]).await.ok();
    assert!(!listed.stdout.contains(&key), "the key itself is never listed:\n{}", listed.stdout);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", listed.stdout);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    let (key_id, prefix) = (row[0], row[1]);
    assert!(key_id.starts_with("key-") && key.starts_with(prefix) && prefix.len() < key.len(), "{row:?}");
    assert_eq!((row[2], row[4]), ("120/min", "-"), "rate limit, not revoked: {row:?}");

    let revoked = outbox_admin(&stack, &["key", "revoke", "--org", &org, "--key-id", key_id]).await.ok();
    assert!(revoked.stdout.contains("revoked"), "{}", revoked.stdout);
    let (code, body) = stack.send_as(&key, json!({"chat_id": "919537851844", "message": "hi"})).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    // Revoking again keeps the first time.
    let again = outbox_admin(&stack, &["key", "revoke", "--org", &org, "--key-id", key_id]).await.ok();
    assert_eq!(again.stdout, revoked.stdout);
    let listed = outbox_admin(&stack, &["key", "list", "--org", &org]).await.ok();
    let revoked_at = listed.stdout.lines().nth(1).and_then(|row| row.split_whitespace().nth(4)).unwrap_or_default();
    assert!(revoked_at.starts_with("20") && revoked.stdout.contains(revoked_at), "{}", listed.stdout);

    // Another org's key id is not found, and says where to look.
    let other = outbox_admin(&stack, &["key", "revoke", "--org", LOCAL_ORG, "--key-id", key_id]).await;
    let hint = format!("`outbox-admin key list --org {LOCAL_ORG}` shows its key ids");
    assert!(!other.success && other.stderr.contains(&hint), "{}", other.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_org_is_an_error_that_says_what_to_do() {
    let stack = Stack::start_with(without_consumers()).await;
    for args in [
        &["key", "create", "--org", "org-nope"][..],
        &["key", "list", "--org", "org-nope"],
        &["phone", "add", "--org", "org-nope", "--number", "15550100077", "--provider", "sandbox"],
        &["phone", "list", "--org", "org-nope"],
    ] {
        let run = outbox_admin(&stack, args).await;
        assert!(!run.success, "{args:?} succeeded:\n{}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
        assert!(
            run.stderr.contains("org org-nope not found")
                && run.stderr.contains("`outbox-admin org create --name NAME`"),
            "{}",
            run.stderr
        );
    }
    // A usage mistake is caught before any AWS call.
    let run =
        outbox_admin(&stack, &["phone", "add", "--org", LOCAL_ORG, "--number", "1555", "--provider", "http"]).await;
    assert!(
        !run.success && run.stderr.contains("--provider http also needs --url, --signing-secret"),
        "{}",
        run.stderr
    );
    // A flag of another provider is refused, in the form it was given.
    let args = ["phone", "add", "sandbox", "--org", LOCAL_ORG, "--number", "15550100077", "--url", "https://x.test"];
    let run = outbox_admin(&stack, &args).await;
    assert!(!run.success && run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("--url is not a flag of `phone add sandbox`; it belongs to `phone add http`"),
        "{}",
        run.stderr
    );
    // Input the admin flow refuses names the flag at fault.
    let run = outbox_admin(&stack, &["phone", "add", "sandbox", "--org", LOCAL_ORG, "--number", "+1555"]).await;
    assert!(!run.success && run.stderr.contains("error: --number \"+1555\" must be 5 to 15 digits"), "{}", run.stderr);
    let run = outbox_admin(&stack, &["key", "create", "--org", LOCAL_ORG, "--rate-limit", "0"]).await;
    assert!(!run.success && run.stderr.contains("error: --rate-limit is requests per minute"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_credentials_live_in_secrets_manager_not_in_the_table_nor_in_listings() {
    let stack = Stack::start_with(without_consumers()).await;
    let (tenants, secrets) = (stack.store(), SecretsManager::new(stack.aws.secrets.clone()));
    let now = SystemClock.now();
    let egress = Egress::new(stack.config.allow_private_targets);
    let org = admin::create_org(&tenants, "Credentials Ltd", now).await.unwrap();
    let whatsapp = ProviderInput::WhatsappCloud {
        phone_number_id: "106540352242922".into(),
        graph_url: admin::DEFAULT_GRAPH_URL.into(),
        graph_version: "v22.0".into(),
        secrets: WhatsappCloudSecrets {
            access_token: "EAAG-access-token-zz1".into(),
            app_secret: "app-secret-zz2".into(),
            verify_token: "verify-token-zz3".into(),
        },
    };
    let phone = NewPhone { number: "15550100081".into(), phone_id: None, provider: whatsapp };
    let wa = admin::add_phone(&tenants, &secrets, &egress, &org, phone.clone(), now).await.unwrap();
    let hook_args = [
        "phone",
        "add",
        "--org",
        org.as_str(),
        "--number",
        "15550100082",
        "--phone-id",
        "phone-hook",
        "--provider",
        "http",
        "--url",
        "https://hooks.example.com/outbox",
        "--signing-secret",
        "signing-secret-zz4",
    ];
    assert_eq!(outbox_admin(&stack, &hook_args).await.ok().last_line(), "phone-hook");
    let hook = tenants.get_phone(&org, &PhoneId::from("phone-hook")).await.unwrap().expect("added by the CLI");
    let secret_values = ["EAAG-access-token-zz1", "app-secret-zz2", "verify-token-zz3", "signing-secret-zz4"];

    let stored: serde_json::Value =
        serde_json::from_str(&secrets.get(wa.provider.secret_ref().unwrap()).await.unwrap()).unwrap();
    assert_eq!(stored["access_token"], "EAAG-access-token-zz1");
    let stored = secrets.get(hook.provider.secret_ref().unwrap()).await.unwrap();
    assert_eq!(stored, r#"{"signing_secret":"signing-secret-zz4"}"#);
    assert!(
        hook.provider.secret_ref().unwrap().contains(&admin::secret_name(&org, &PhoneId::from("phone-hook"))),
        "{hook:?}"
    );
    let table = stack.aws.dynamodb.scan().table_name(&stack.config.table).send().await.unwrap();
    let table = format!("{:?}", table.items());
    assert!(table.contains("phone-hook"));
    for secret in secret_values {
        assert!(!table.contains(secret), "{secret} is in the table");
    }
    let listed = outbox_admin(&stack, &["phone", "list", "--org", org.as_str()]).await.ok();
    assert!(listed.stdout.contains(wa.phone_id.as_str()) && listed.stdout.contains("https://hooks.example.com/outbox"));
    assert!(listed.stdout.contains("https://graph.facebook.com/v22.0/106540352242922"), "{}", listed.stdout);
    for secret in secret_values {
        assert!(!listed.stdout.contains(secret) && !listed.stderr.contains(secret), "{secret} listed");
    }

    // The identical phone again changes nothing; the same number on other terms is refused.
    let again = admin::add_phone(&tenants, &secrets, &egress, &org, phone, now).await.unwrap();
    assert_eq!(again, wa);
    let taken = ["phone", "add", "--org", org.as_str(), "--number", "15550100081", "--provider", "sandbox"];
    let run = outbox_admin(&stack, &taken).await;
    let remove = format!("`outbox-admin phone remove --org {org} --phone {}` first", wa.phone_id);
    assert!(!run.success && run.stderr.contains("already has number 15550100081"), "{}", run.stderr);
    assert!(run.stderr.contains(&remove) && run.stderr.contains("or choose another --number"), "{}", run.stderr);

    let removed = outbox_admin(&stack, &["phone", "remove", "--org", org.as_str(), "--phone", "15550100081"]).await;
    assert!(removed.ok().stdout.contains("deleted its credentials"));
    let err = secrets.get(wa.provider.secret_ref().unwrap()).await.expect_err("deleted with its phone");
    assert!(matches!(err, SecretError::NotFound(_)), "{err:?}");
    admin::remove_phone(&tenants, &secrets, &org, "phone-hook").await.unwrap();
    assert!(matches!(secrets.get(hook.provider.secret_ref().unwrap()).await, Err(SecretError::NotFound(_))));
    assert!(admin::list_phones(&tenants, &org).await.unwrap().is_empty());
    let err = admin::remove_phone(&tenants, &secrets, &org, "phone-hook").await.expect_err("already removed");
    assert!(matches!(err, AdminError::PhoneNotFound { .. }), "{err:?}");
    let run = outbox_admin(&stack, &["phone", "remove", "--org", org.as_str(), "--phone", "phone-hook"]).await;
    let hint = format!("`outbox-admin phone list --org {org}` shows its numbers and phone_ids");
    assert!(!run.success && run.stderr.contains(&hint), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_come_from_argv_the_environment_or_stdin_and_both_phone_add_forms_work() {
    let stack = Stack::start_with(without_consumers()).await;
    let (tenants, secrets) = (stack.store(), SecretsManager::new(stack.aws.secrets.clone()));
    let org = admin::create_org(&tenants, "Secret Sources", SystemClock.now()).await.unwrap();
    let stored = |phone_id: &'static str| {
        let (tenants, secrets, org) = (&tenants, &secrets, &org);
        async move {
            let phone = tenants.get_phone(org, &PhoneId::from(phone_id)).await.unwrap().expect("added");
            let secret = secrets.get(phone.provider.secret_ref().expect("a reference")).await.unwrap();
            serde_json::from_str::<serde_json::Value>(&secret).unwrap()
        }
    };

    // The contract's form, every secret on argv.
    let cloud = |phone_id: &'static str, number: &'static str| {
        vec!["phone", "add", "--org", org.as_str(), "--number", number, "--phone-id", phone_id]
    };
    let mut argv = cloud("phone-argv", "15550100091");
    argv.extend(["--provider", "whatsapp-cloud", "--phone-number-id", "1065", "--access-token", "tok-argv"]);
    argv.extend(["--app-secret", "app-argv", "--verify-token", "verify-argv"]);
    assert_eq!(outbox_admin(&stack, &argv).await.ok().last_line(), "phone-argv");
    let secret = stored("phone-argv").await;
    assert_eq!((&secret["access_token"], &secret["verify_token"]), (&json!("tok-argv"), &json!("verify-argv")));

    // The subcommand form, the secrets from the environment and from stdin: none on the command line.
    let mut argv = vec!["phone", "add", "whatsapp-cloud"];
    argv.extend(&cloud("phone-env", "15550100092")[2..]);
    argv.extend(["--phone-number-id", "1066", "--verify-token", "-"]);
    let env = [("OUTBOX_ADMIN_ACCESS_TOKEN", "tok-env"), ("OUTBOX_ADMIN_APP_SECRET", "app-env")];
    let run = outbox_admin_with(&stack, &argv, &env, "verify-stdin\n").await.ok();
    assert_eq!(run.last_line(), "phone-env");
    let secret = stored("phone-env").await;
    assert_eq!(secret, json!({"access_token": "tok-env", "app_secret": "app-env", "verify_token": "verify-stdin"}));
    for leaked in ["tok-env", "app-env", "verify-stdin"] {
        assert!(!run.stdout.contains(leaked) && !run.stderr.contains(leaked), "{leaked} printed");
    }

    let http = ["phone", "add", "--org", org.as_str(), "--number", "15550100093", "--phone-id", "phone-gw"];
    let argv =
        [&http[..], &["--provider=http", "--url", "https://93.184.215.14/outbox", "--signing-secret", "-"]].concat();
    assert_eq!(outbox_admin_with(&stack, &argv, &[], "sign-stdin\n").await.ok().last_line(), "phone-gw");
    assert_eq!(stored("phone-gw").await, json!({"signing_secret": "sign-stdin"}));
    let argv = [&http[..], &["--provider", "http", "--url", "https://x.test", "--signing-secret", "-"]].concat();
    let run = outbox_admin_with(&stack, &argv, &[], "").await;
    assert!(!run.success && run.stderr.contains("--signing-secret is `-`, but stdin ended"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_add_takes_only_public_https_provider_urls_unless_private_targets_are_allowed() {
    let stack = Stack::start_with(without_consumers()).await;
    let org = admin::create_org(&stack.store(), "Egress Checks", SystemClock.now()).await.unwrap();
    let add = |number: &'static str, url: &'static str| {
        let org = org.to_string();
        vec![
            "phone".to_string(),
            "add".into(),
            "http".into(),
            "--org".into(),
            org,
            "--number".into(),
            number.into(),
            "--url".into(),
            url.into(),
            "--signing-secret".into(),
            "s3cret".into(),
        ]
    };
    let deployed = [("OUTBOX_ALLOW_PRIVATE_TARGETS", "false")];
    for (url, said) in [
        ("http://93.184.215.14/outbox", "--url: http:// is not allowed, only https://"),
        ("https://127.0.0.1:9/hook", "--url: 127.0.0.1 is a loopback address"),
        ("https://10.1.2.3/hook", "--url: 10.1.2.3 is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "--url: 169.254.169.254 is a cloud metadata address"),
        ("https://[fd00:ec2::254]/latest", "--url: fd00:ec2::254 is a cloud metadata address"),
        ("https://[fe80::1]/hook", "--url: fe80::1 is a link-local address"),
        ("https://[::ffff:127.0.0.1]/hook", "--url: ::ffff:127.0.0.1 is a loopback address"),
        ("https://localhost:9/hook", "--url: localhost resolves to "),
    ] {
        let args = add("15550100095", url);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = outbox_admin_with(&stack, &args, &deployed, "").await;
        assert!(!run.success && run.stderr.contains(said), "{url}: {}", run.stderr);
        assert!(run.stderr.contains("OUTBOX_ALLOW_PRIVATE_TARGETS=true"), "{}", run.stderr);
    }
    assert!(admin::list_phones(&stack.store(), &org).await.unwrap().is_empty());
    // The local stack's default allows a gateway on this machine.
    let args = add("15550100096", "http://127.0.0.1:9/hook");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = outbox_admin(&stack, &args).await.ok();
    assert!(run.last_line().starts_with("phone-"), "{}", run.stdout);
}

/// A day's retention; interrupted messages are not replayed.
const OPTIONS: admin::ReplayOptions = admin::ReplayOptions { retention: Duration::from_secs(86_400), force: false };

/// Drives a sent message through three transient failures and the dead-letter mark, by hand.
async fn dead_letter_by_hand(stack: &Stack, org: &OrgId, queue_id: &QueueId) -> MessageRecord {
    let store = stack.store();
    let now = SystemClock.now();
    for attempt in 1..=3 {
        store.begin_attempt(org, queue_id, None, now, now).await.unwrap();
        let result = if attempt < 3 {
            AttemptResult::Retry { error: "busy".into() }
        } else {
            AttemptResult::Failed { outcome: AttemptOutcome::TransientError, error: "failed after 3 attempts".into() }
        };
        assert!(store.finish_attempt(org, queue_id, attempt, result, now).await.unwrap());
    }
    store.mark_dead_lettered(org, queue_id, 0, now).await.unwrap();
    store.get(org, queue_id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_requeues_the_record_then_enqueues_a_fresh_job_and_undoes_itself_when_sqs_fails() {
    let stack = Stack::start_with(without_consumers()).await;
    let (code, accepted) = stack.send(json!({"chat_id": "15550000001", "message": "hi"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let queue_id = QueueId::from(accepted["queue_id"].as_str().unwrap());
    stack.aws.sqs.purge_queue().queue_url(&stack.config.queue_url).send().await.unwrap();
    let org = OrgId::from(LOCAL_ORG);
    let store = stack.store();
    let before = dead_letter_by_hand(&stack, &org, &queue_id).await;
    assert_eq!((before.status, before.dead_lettered_at.is_some()), (Status::Failed, true));
    assert_eq!(store.list_dead_lettered(Some(&queue_id)).await.unwrap(), vec![before.clone()]);

    // SQS refuses the job: the record goes back to how it was, still findable for the next replay.
    let missing = format!("{}-gone", stack.config.queue_url);
    let broken = SqsQueue::new(stack.aws.sqs.clone(), missing, &stack.config.dlq_url);
    let selection = ReplaySelection::QueueId(queue_id.clone());
    let report = admin::replay_dead_letters(&store, &broken, &selection, OPTIONS, SystemClock.now()).await.unwrap();
    assert_eq!((report.replayed.len(), report.failed.len()), (0, 1), "{report:?}");
    assert_eq!(store.get(&org, &queue_id).await.unwrap().unwrap(), before);
    assert_eq!(store.list_dead_lettered(None).await.unwrap(), vec![before.clone()]);

    let queue = SqsQueue::new(stack.aws.sqs.clone(), &stack.config.queue_url, &stack.config.dlq_url);
    let report = admin::replay_dead_letters(&store, &queue, &selection, OPTIONS, SystemClock.now()).await.unwrap();
    assert_eq!(report.replayed, vec![before.clone()]);
    let after = store.get(&org, &queue_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.attempts, after.attempt_log.len()), (Status::Queued, 3, 3));
    assert_eq!((after.dead_lettered_at, after.status_description, after.timeline.failed_at), (None, None, None));
    assert!(store.list_dead_lettered(None).await.unwrap().is_empty());
    let event = stack.receive_records(&stack.jobs_source(), 1, Duration::from_secs(10)).await;
    // Kept the retention past the replay (due now), in the table's TTL attribute.
    let renewed = after.expires_at - SystemClock.now().epoch_secs();
    assert!((86_000..=86_400).contains(&renewed), "expires in {renewed} s");
    let job = Job::for_replay(&before);
    assert_eq!((after.generation, job.generation), (1, 1));
    assert_eq!(event.records[0].body.as_deref(), Some(job.encode().as_str()));

    // Replaying again, or everything, finds nothing left to do.
    let again = admin::replay_dead_letters(&store, &queue, &selection, OPTIONS, SystemClock.now()).await.unwrap();
    assert_eq!((again.replayed.len(), again.not_dead_lettered.clone()), (0, vec![queue_id.clone()]));
    let all =
        admin::replay_dead_letters(&store, &queue, &ReplaySelection::All, OPTIONS, SystemClock.now()).await.unwrap();
    assert!(all.replayed.is_empty() && all.not_dead_lettered.is_empty() && all.failed.is_empty(), "{all:?}");
}

/// Polls the record until `done` holds; panics with it after `timeout`.
async fn wait_for_record(stack: &Stack, queue_id: &str, done: impl Fn(&MessageRecord) -> bool) -> MessageRecord {
    let (org, queue_id) = (OrgId::from(LOCAL_ORG), QueueId::from(queue_id));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = stack.store().get(&org, &queue_id).await.unwrap().expect("the record");
        if done(&record) {
            return record;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {queue_id}: {record:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_gives_a_dead_lettered_message_three_more_attempts() {
    let stack = Stack::start().await;
    let (code, accepted) = stack.send(json!({"chat_id": "15550000001", "message": "hi"})).await;
    assert_eq!(code, StatusCode::OK, "{accepted}");
    let queue_id = accepted["queue_id"].as_str().unwrap().to_string();
    let first =
        wait_for_record(&stack, &queue_id, |r| r.status == Status::Failed && r.dead_lettered_at.is_some()).await;
    assert_eq!(first.attempts, 3);

    let run = outbox_admin(&stack, &["dlq", "replay", "--queue-id", &queue_id]).await.ok();
    assert!(run.stdout.contains(&format!("replayed {queue_id}")), "{}", run.stdout);
    assert_eq!(run.last_line(), "replayed 1, not dead-lettered 0, interrupted (not replayed) 0, failed 0");
    let run = outbox_admin(&stack, &["dlq", "replay", "--queue-id", &queue_id]).await.ok();
    assert!(run.stdout.contains(&format!("{queue_id}: not dead-lettered")), "{}", run.stdout);

    let second =
        wait_for_record(&stack, &queue_id, |r| r.status == Status::Failed && r.dead_lettered_at.is_some()).await;
    assert_eq!((second.attempts, second.attempt_log.len()), (6, 6), "{second:?}");
    assert!(second.attempt_log.iter().all(|a| a.outcome == Some(AttemptOutcome::TransientError)), "{second:?}");
    assert!(second.dead_lettered_at > first.dead_lettered_at);
}
