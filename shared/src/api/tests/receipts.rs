//! `/v1/provider/…`: Meta's handshake and signed status webhooks, an http gateway's signed
//! receipts; what they change on the message (status, timeline, `ack`) and what they refuse.

use axum::http::{Method, Request, StatusCode, header};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;
use crate::domain::tenant::{Phone, ProviderSettings};
use crate::ports::{AttemptResult, SecretStore, StatusStore};

const WEBHOOK: &str = "/v1/provider/whatsapp/webhook";
const RECEIPTS: &str = "/v1/provider/http/receipts";
const NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "meta-app-secret";
const VERIFY_TOKEN: &str = "meta-verify-token";
const SIGNING_SECRET: &str = "gateway-signing-secret";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn meta_statuses(statuses: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": NUMBER_ID},
        "statuses": statuses,
        "messages": [{"from": "919537851844", "id": "wamid.IN", "type": "text", "text": {"body": "hi"}}]
    }}]}]})
}

impl Harness {
    /// Org A's whatsapp-cloud phone (`phone-cloud`) and http phone (`phone-http`), with their secrets.
    async fn add_provider_phones(&self) {
        let cloud = json!({"access_token": "token", "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN});
        self.secrets.put("outbox/org-a/phone-cloud", &cloud.to_string()).await.expect("memory");
        self.secrets
            .put("outbox/org-a/phone-http", &json!({"signing_secret": SIGNING_SECRET}).to_string())
            .await
            .expect("memory");
        let phones = [
            (
                "phone-cloud",
                "15550100001",
                ProviderSettings::WhatsappCloud {
                    phone_number_id: NUMBER_ID.into(),
                    graph_url: "https://graph.facebook.com".into(),
                    graph_version: "v21.0".into(),
                    secret_ref: "outbox/org-a/phone-cloud".into(),
                },
            ),
            (
                "phone-http",
                "15550100002",
                ProviderSettings::Http {
                    url: "https://gateway.example.com/send".into(),
                    secret_ref: "outbox/org-a/phone-http".into(),
                },
            ),
        ];
        for (phone_id, number, provider) in phones {
            let phone = Phone {
                org_id: self.org.clone(),
                phone_id: phone_id.into(),
                number: number.into(),
                provider,
                created_at: self.now(),
            };
            self.store.put_phone(&phone).await.expect("memory store");
        }
    }

    /// A message from `x_phone` that its provider accepted as `provider_id`.
    async fn sent_from(&self, x_phone: &str, provider_id: &str) -> MessageRecord {
        let reply = self.send_from(x_phone, text_to("919537851844")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let queue_id = QueueId::from(reply.json()["queue_id"].as_str().expect("a queue_id"));
        let (now, lease) = (self.now(), self.now().plus(std::time::Duration::from_secs(30)));
        self.store.begin_attempt(&self.org, &queue_id, None, now, lease).await.expect("memory store");
        let sent = AttemptResult::Sent { provider_message_id: provider_id.into(), findable: true };
        assert!(self.store.finish_attempt(&self.org, &queue_id, 1, sent, now).await.expect("memory store"));
        self.record(&self.org, &queue_id).await.expect("the record")
    }

    async fn meta_post(&self, body: &Value, signature: Option<String>) -> Reply {
        let body = body.to_string();
        let mut request = Request::post(WEBHOOK).header(header::CONTENT_TYPE, "application/json");
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        self.call(request.body(Body::from(body)).expect("request")).await
    }

    async fn signed_meta_post(&self, body: &Value) -> Reply {
        let signature = format!("sha256={}", hmac_hex(APP_SECRET, body.to_string().as_bytes()));
        self.meta_post(body, Some(signature)).await
    }

    async fn gateway_post(&self, body: &Value, secret: Option<&str>, at: i64) -> Reply {
        let body = body.to_string();
        let mut request = Request::post(RECEIPTS)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-outbox-org-id", self.org.as_str())
            .header("x-outbox-phone-id", "phone-http");
        if let Some(secret) = secret {
            let signature = hmac_hex(secret, format!("{at}.{body}").as_bytes());
            request = request
                .header("x-outbox-timestamp", at.to_string())
                .header("x-outbox-signature", format!("sha256={signature}"));
        }
        self.call(request.body(Body::from(body)).expect("request")).await
    }

    async fn message_object(&self, queue_id: &QueueId) -> Value {
        let reply = self.get(KEY, &format!("/v1/message/{queue_id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()
    }
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_a_phones_verify_token() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let handshake = |mode: &str, token: &str| {
        format!("{WEBHOOK}?hub.mode={mode}&hub.verify_token={token}&hub.challenge=1158201444")
    };
    let ok = app.call(Request::get(handshake("subscribe", VERIFY_TOKEN)).body(Body::empty()).expect("request")).await;
    assert_eq!((ok.status, ok.text.as_str()), (StatusCode::OK, "1158201444"));
    for uri in [handshake("subscribe", "wrong"), handshake("unsubscribe", VERIFY_TOKEN), WEBHOOK.to_string()] {
        let reply = app.call(Request::get(&uri).body(Body::empty()).expect("request")).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
        assert!(!reply.text.contains("1158201444"), "{uri}: {}", reply.text);
    }
}

#[tokio::test]
async fn metas_signed_statuses_move_the_message_forward_whatever_their_order_and_repeats() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let record = app.sent_from("phone-cloud", "wamid.HBgL1").await;
    // read before delivered, a duplicate, and a late delivered; the first by callback data, the rest by wamid.
    let status = |status: &str, callback: bool| {
        let mut entry =
            json!({"id": "wamid.HBgL1", "status": status, "timestamp": "1700000000", "recipient_id": "919537851844"});
        if callback {
            entry["biz_opaque_callback_data"] = json!(record.queue_id);
        }
        entry
    };
    let body = meta_statuses(json!([status("read", true), status("read", false), status("delivered", false)]));
    let reply = app.signed_meta_post(&body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json(), json!({"applied": 1, "unchanged": 2, "unknown": 0, "ignored": 1}));
    let object = app.message_object(&record.queue_id).await;
    assert_eq!((&object["status"], &object["ack"]), (&json!("read"), &json!(3)));
    assert!(object["timeline"]["read_at"].is_string() && object["timeline"]["delivered_at"].is_string(), "{object}");

    let unknown = meta_statuses(json!([{"id": "wamid.NOT-OURS", "status": "delivered"}]));
    let reply = app.signed_meta_post(&unknown).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["unknown"], 1);
}

#[tokio::test]
async fn a_missing_or_wrong_meta_signature_is_401_and_changes_nothing() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let record = app.sent_from("phone-cloud", "wamid.HBgL2").await;
    let body = meta_statuses(json!([{"id": "wamid.HBgL2", "status": "delivered"}]));
    let wrong = format!("sha256={}", hmac_hex("another-secret", body.to_string().as_bytes()));
    let tampered = format!("sha256={}", hmac_hex(APP_SECRET, b"{}"));
    for signature in [None, Some(wrong), Some(tampered), Some("sha1=00".to_string())] {
        let reply = app.meta_post(&body, signature.clone()).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            app.record(&app.org, &record.queue_id).await.expect("record").status,
            crate::domain::message::Status::Sent,
            "{signature:?}"
        );
    }
    // Not even parsed before the signature: a signed non-JSON body is the first to be 400.
    let garbage = json!("not a webhook");
    assert_error(&app.meta_post(&garbage, None).await, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn metas_failed_after_sent_ends_the_message_failed_with_its_code_and_title() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let record = app.sent_from("phone-cloud", "wamid.HBgL3").await;
    let body = meta_statuses(json!([{"id": "wamid.HBgL3", "status": "failed",
        "errors": [{"code": 131026, "title": "Message undeliverable"}]}]));
    assert_eq!(app.signed_meta_post(&body).await.status, StatusCode::OK);
    let object = app.message_object(&record.queue_id).await;
    assert_eq!((&object["status"], &object["ack"]), (&json!("failed"), &json!(-1)));
    assert_eq!(object["status_description"], "whatsapp-cloud error 131026: Message undeliverable");
}

#[tokio::test]
async fn a_gateways_receipts_apply_when_signed_with_the_phones_secret_only() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let record = app.sent_from("phone-http", "gw-1").await;
    let now = app.now().epoch_secs();
    let body = json!({"receipts": [{"queue_id": record.queue_id, "message_id": "gw-1", "status": "delivered"}]});
    for (secret, at) in [(None, now), (Some("not-the-secret"), now), (Some(SIGNING_SECRET), now - 301)] {
        assert_error(&app.gateway_post(&body, secret, at).await, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(
        app.record(&app.org, &record.queue_id).await.expect("record").status,
        crate::domain::message::Status::Sent
    );
    let reply = app.gateway_post(&body, Some(SIGNING_SECRET), now).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["applied"], 1);
    let read = json!({"receipts": [{"message_id": "gw-1", "status": "read"}]});
    assert_eq!(app.gateway_post(&read, Some(SIGNING_SECRET), now).await.json()["applied"], 1);
    assert_eq!(app.message_object(&record.queue_id).await["ack"], 3);
    for bad in
        [json!({"receipts": []}), json!({"receipts": [{"message_id": "gw-1", "status": "sent"}]}), json!({"other": 1})]
    {
        assert_error(
            &app.gateway_post(&bad, Some(SIGNING_SECRET), now).await,
            StatusCode::BAD_REQUEST,
            "invalid_receipts",
        );
    }
}

#[tokio::test]
async fn a_receipts_body_over_the_limit_is_413_before_it_is_read() {
    let app = Harness::new().await;
    let big = "x".repeat(crate::api::routes::provider::MAX_RECEIPTS_BODY_BYTES + 1);
    let request = Request::builder().method(Method::POST).uri(WEBHOOK).header("x-hub-signature-256", "sha256=00");
    let reply = app.call(request.body(Body::from(big)).expect("request")).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn what_whatsapp_cloud_cannot_send_is_refused_at_send_in_every_dialect_and_for_each_broadcast_chat() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let group = "120363025246125486@g.us";
    let poll = json!({"chat_id": "919537851844", "poll": {"pollName": "Lunch?", "pollOptions": ["yes", "no"]}});
    let audio = json!({"chat_id": "919537851844", "message": "listen",
        "media": {"type": "audio", "url": "https://cdn.example.com/a.mp3", "filename": "a.mp3", "mimetype": "audio/mpeg"}});
    for (body, reason) in [(poll, "polls"), (text_to(group), "groups"), (audio, "cannot carry text")] {
        let reply = app.send_from("phone-cloud", body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "unsupported_by_provider");
        assert!(error["message"].as_str().unwrap_or_default().contains(reason), "{error}");
        // The sandbox phone takes the same message.
        let sandbox = app.send_from(PHONE_ID, body).await;
        assert_eq!(sandbox.status, StatusCode::OK, "{}", sandbox.text);
    }
    let generic =
        app.json(Method::POST, "/v1/send", json!({"session": "phone-cloud", "to": group, "text": "hi"})).await;
    assert_error(&generic, StatusCode::BAD_REQUEST, "unsupported_by_provider");

    let jobs = app.jobs().len();
    let broadcast = json!({"chat_ids": ["919537851844", group], "message": "hi"});
    let request = Request::post("/v1/message/broadcast")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-phone", "phone-cloud");
    let reply = app.call(request.body(Body::from(broadcast.to_string())).expect("request")).await;
    let error = assert_error(&reply, StatusCode::BAD_REQUEST, "unsupported_by_provider");
    assert!(error["message"].as_str().unwrap_or_default().starts_with("chat 1 ("), "{error}");
    assert_eq!(app.jobs().len(), jobs, "nothing of a refused broadcast is queued");
}

#[tokio::test]
async fn metas_other_webhook_fields_are_acknowledged() {
    let app = Harness::new().await;
    app.add_provider_phones().await;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1}},
        {"field": "account_update"}
    ]}]});
    let reply = app.signed_meta_post(&body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json(), json!({"applied": 0, "unchanged": 0, "unknown": 0, "ignored": 0}));
}
