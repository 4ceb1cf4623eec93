//! The address classes, URL rules, vetting and the connect-time resolver, over real loopback
//! servers and a fixed resolver.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use super::*;

fn ip(raw: &str) -> IpAddr {
    raw.parse().expect("an IP address")
}

fn strict() -> Egress {
    Egress::new(false).with_lookup(Arc::new(FixedLookup::new([
        ("hooks.example.com", vec![ip("93.184.215.14"), ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c")]),
        ("internal.example.com", vec![ip("10.1.2.3")]),
        ("split.example.com", vec![ip("93.184.215.14"), ip("192.168.1.10")]),
        ("rebind.test", vec![ip("127.0.0.1")]),
        ("metadata.test", vec![ip("fd00:ec2::254")]),
    ])))
}

fn local() -> Egress {
    Egress { allow_private: true, ..strict() }
}

#[test]
fn every_non_public_class_is_named() {
    use Blocked::*;
    let cases = [
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Unspecified),
        ("127.0.0.1", Loopback),
        ("127.255.0.9", Loopback),
        ("10.0.0.1", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.0.1", Private),
        ("100.64.0.1", SharedCgnat),
        ("100.127.255.254", SharedCgnat),
        ("169.254.0.1", LinkLocal),
        ("169.254.169.254", Metadata),
        ("169.254.170.2", Metadata),
        ("100.100.100.200", Metadata),
        ("192.0.0.192", Metadata),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("255.255.255.255", Broadcast),
        ("240.0.0.1", Reserved),
        ("192.0.2.1", Reserved),
        ("198.18.0.1", Reserved),
        ("198.51.100.7", Reserved),
        ("203.0.113.7", Reserved),
        ("::", Unspecified),
        ("::1", Loopback),
        ("fe80::1", LinkLocal),
        ("febf::1", LinkLocal),
        ("fec0::1", Private),
        ("fc00::1", UniqueLocal),
        ("fd12:3456::1", UniqueLocal),
        ("fd00:ec2::254", Metadata),
        ("ff02::1", Multicast),
        ("2001:db8::1", Reserved),
        ("100::1", Reserved),
        ("64:ff9b:1::1", Private),
        // IPv6 forms that carry an IPv4 address are judged as that address.
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:169.254.169.254", Metadata),
        ("::ffff:10.0.0.1", Private),
        ("::127.0.0.1", Loopback),
        ("::169.254.169.254", Metadata),
        ("::ffff:0:192.168.1.1", Private),
        ("64:ff9b::a9fe:a9fe", Metadata),
        ("2002:7f00:1::", Loopback),
        ("2002:a9fe:a9fe::1", Metadata),
        // Teredo: 2001:0::…, the client 127.0.0.1 stored inverted as 80ff:fffe.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", Loopback),
    ];
    for (raw, class) in cases {
        assert_eq!(classify(ip(raw)), Some(class), "{raw}");
    }
}

#[test]
fn public_addresses_pass() {
    for raw in [
        "93.184.215.14",
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.1.1",
        "198.20.0.1",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert_eq!(classify(ip(raw)), None, "{raw}");
    }
}

#[test]
fn only_https_urls_with_public_literal_hosts_parse_when_private_targets_are_not_allowed() {
    let egress = strict();
    assert!(egress.parse("https://hooks.example.com/outbox").is_ok());
    assert!(egress.parse("https://93.184.215.14:8443/outbox").is_ok());
    assert!(matches!(egress.parse("http://hooks.example.com/outbox"), Err(EgressError::NotHttps { .. })));
    assert!(matches!(egress.parse("ftp://hooks.example.com"), Err(EgressError::NotAUrl)));
    assert!(matches!(egress.parse("https:///outbox"), Err(EgressError::NotAUrl)));
    assert!(matches!(egress.parse("hooks.example.com"), Err(EgressError::NotAUrl)));
    for (raw, class) in [
        ("https://127.0.0.1:9/hook", Blocked::Loopback),
        ("https://169.254.169.254/latest/meta-data/", Blocked::Metadata),
        ("https://[fd00:ec2::254]/latest", Blocked::Metadata),
        ("https://[fe80::1]/hook", Blocked::LinkLocal),
        ("https://[::ffff:127.0.0.1]/hook", Blocked::Loopback),
        ("https://[::ffff:a9fe:a9fe]/hook", Blocked::Metadata),
        ("https://10.0.0.8/hook", Blocked::Private),
        ("https://100.64.1.1/hook", Blocked::SharedCgnat),
        ("https://[::]/hook", Blocked::Unspecified),
        ("https://0.0.0.0/hook", Blocked::Unspecified),
        ("https://224.0.0.1/hook", Blocked::Multicast),
        // Spellings the URL standard reads as 127.0.0.1.
        ("https://2130706433/hook", Blocked::Loopback),
        ("https://0x7f.1/hook", Blocked::Loopback),
        ("https://127.1/hook", Blocked::Loopback),
    ] {
        match egress.parse(raw) {
            Err(EgressError::Forbidden { class: found, .. }) => assert_eq!(found, class, "{raw}"),
            other => panic!("{raw}: {other:?}"),
        }
    }
}

#[test]
fn private_targets_and_http_parse_when_allowed() {
    let egress = local();
    for raw in ["http://127.0.0.1:9/hook", "https://169.254.169.254/", "http://[::1]:8080/", "http://localhost:1/"] {
        assert!(egress.parse(raw).is_ok(), "{raw}");
    }
    assert!(matches!(egress.parse("ftp://127.0.0.1/"), Err(EgressError::NotAUrl)));
}

#[test]
fn refusals_name_the_host_the_address_and_its_class_but_never_the_url() {
    let err = strict().parse("https://user:pw@169.254.169.254/x").unwrap_err();
    assert_eq!(err.to_string(), "169.254.169.254 is a cloud metadata address; only public addresses may be reached");
    let err = strict().parse("https://[::ffff:127.0.0.1]/x").unwrap_err();
    assert_eq!(err.to_string(), "::ffff:127.0.0.1 is a loopback address; only public addresses may be reached");
    let err = EgressError::Forbidden { host: "rebind.test".into(), ip: ip("127.0.0.1"), class: Blocked::Loopback };
    assert_eq!(
        err.to_string(),
        "rebind.test resolves to 127.0.0.1, a loopback address; only public addresses may be reached"
    );
}

#[tokio::test]
async fn vetting_resolves_the_host_and_refuses_it_if_any_address_is_not_public() {
    let egress = strict();
    let vetted = egress.vet("https://hooks.example.com/outbox").await.unwrap();
    assert_eq!(vetted.url.as_str(), "https://hooks.example.com/outbox");
    assert_eq!(
        vetted.addresses,
        vec![
            SocketAddr::new(ip("93.184.215.14"), 443),
            SocketAddr::new(ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c"), 443)
        ]
    );
    let literal = egress.vet("https://93.184.215.14:8443/").await.unwrap();
    assert_eq!(literal.addresses, vec![SocketAddr::new(ip("93.184.215.14"), 8443)]);

    for (raw, class) in [
        ("https://internal.example.com/", Blocked::Private),
        ("https://split.example.com/", Blocked::Private),
        ("https://rebind.test/", Blocked::Loopback),
        ("https://metadata.test/", Blocked::Metadata),
    ] {
        match egress.vet(raw).await {
            Err(EgressError::Forbidden { class: found, host, .. }) => {
                assert_eq!(found, class, "{raw}");
                assert!(raw.contains(&host), "{raw}: {host}");
            }
            other => panic!("{raw}: {other:?}"),
        }
    }
    let err = egress.vet("https://nowhere.test/").await.unwrap_err();
    assert!(matches!(err, EgressError::Unresolvable { .. }), "{err:?}");
}

#[tokio::test]
async fn the_system_resolver_is_checked_too() {
    // `localhost` resolves through /etc/hosts, without any network.
    let err = Egress::new(false).vet("https://localhost:9/hook").await.unwrap_err();
    assert!(matches!(err, EgressError::Forbidden { class: Blocked::Loopback, .. }), "{err:?}");
}

#[tokio::test]
async fn allowed_private_targets_are_not_resolved_at_all() {
    // The local stack may run without DNS: a name it cannot resolve is still accepted.
    let vetted = local().vet("http://nowhere.test:8080/hook").await.unwrap();
    assert!(vetted.addresses.is_empty());
    let vetted = local().vet("http://127.0.0.1:9/hook").await.unwrap();
    assert_eq!(vetted.addresses, vec![SocketAddr::new(ip("127.0.0.1"), 9)]);
}

/// An HTTP server on a loopback port that answers every request with 200 "ok"; returns its port.
async fn loopback_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

#[tokio::test]
async fn the_resolver_refuses_a_name_that_resolves_to_a_private_address_when_connecting() {
    let port = loopback_server().await;
    let refused = |egress: Egress, host: &'static str| async move {
        let client = egress.client_builder().build().unwrap();
        let err = client.get(format!("http://{host}:{port}/")).send().await.expect_err("refused");
        assert!(err.is_connect(), "{err:?}");
        match refusal_in(&err) {
            Some(EgressError::Forbidden { class: Blocked::Loopback, .. }) => {}
            other => panic!("{host}: {other:?} in {err:?}"),
        }
    };
    // A name that vetted fine once could answer differently now: the check runs on every connect.
    refused(strict(), "rebind.test").await;
    refused(Egress::new(false), "localhost").await;

    // The same server is reachable when private targets are allowed: the refusal is the rule's.
    let client = local().client_builder().build().unwrap();
    let answer = client.get(format!("http://rebind.test:{port}/")).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn the_client_does_not_follow_redirects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let to_metadata = || async { axum::response::Redirect::temporary("http://169.254.169.254/latest/meta-data/") };
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(to_metadata)).await });
    let client = local().client_builder().build().unwrap();
    let answer = client.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
}
