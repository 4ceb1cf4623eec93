//! Egress: which targets requests to user-configured URLs (provider endpoints, the Graph API base
//! URL, webhooks) may reach. Outside the local stack only `https` to public addresses: a URL that
//! names or resolves to a private, loopback, link-local, unique-local, CGNAT, multicast,
//! unspecified, reserved or cloud-metadata address (IPv4-mapped and other IPv6 forms that carry an
//! IPv4 address included) is refused, when it is configured (`Egress::vet`) and again at connect
//! time (`Egress` is reqwest's DNS resolver in `client_builder`), since a name may change its answer.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::{Host, Url};

use crate::domain::validation::parse_web_url;

/// How long resolving one host name may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Cloud metadata services on IPv4: AWS, GCP and Azure (169.254.169.254), ECS task metadata
/// (169.254.170.2), Alibaba (100.100.100.200) and Oracle (192.0.0.192).
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];
/// AWS's instance metadata service on IPv6 (Nitro).
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Why an address is not a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    Unspecified,
    Loopback,
    /// RFC 1918 on IPv4, the deprecated site-local range and local-use NAT64 on IPv6.
    Private,
    /// 100.64.0.0/10, shared address space of carrier-grade NAT.
    SharedCgnat,
    LinkLocal,
    Metadata,
    UniqueLocal,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, IETF and future-use ranges: not routed on the internet.
    Reserved,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Blocked::Unspecified => "unspecified",
            Blocked::Loopback => "loopback",
            Blocked::Private => "private",
            Blocked::SharedCgnat => "carrier-grade NAT (shared)",
            Blocked::LinkLocal => "link-local",
            Blocked::Metadata => "cloud metadata",
            Blocked::UniqueLocal => "unique-local",
            Blocked::Multicast => "multicast",
            Blocked::Broadcast => "broadcast",
            Blocked::Reserved => "reserved",
        })
    }
}

/// What kind of non-public address `ip` is; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    if METADATA_V4.contains(&ip) {
        return Some(Blocked::Metadata);
    }
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        // 0.0.0.0/8: "this network"; a connection to 0.0.0.0 reaches the local host.
        (0, _) => Blocked::Unspecified,
        (127, _) => Blocked::Loopback,
        (10, _) | (172, 16..=31) | (192, 168) => Blocked::Private,
        (100, 64..=127) => Blocked::SharedCgnat,
        (169, 254) => Blocked::LinkLocal,
        (224..=239, _) => Blocked::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Blocked::Broadcast,
        (240..=255, _) => Blocked::Reserved,
        // IETF protocol assignments, TEST-NET-1, benchmarking, TEST-NET-2 and TEST-NET-3.
        (192, 0) if c == 0 || c == 2 => Blocked::Reserved,
        (198, 18..=19) => Blocked::Reserved,
        (198, 51) if c == 100 => Blocked::Reserved,
        (203, 0) if c == 113 => Blocked::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    if ip == METADATA_V6 {
        return Some(Blocked::Metadata);
    }
    // A form that carries an IPv4 address reaches that address: it is judged as that address.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => Blocked::Unspecified,
        _ if ip.is_loopback() => Blocked::Loopback,
        0xfe80..=0xfebf => Blocked::LinkLocal,
        0xfec0..=0xfeff => Blocked::Private,
        0xfc00..=0xfdff => Blocked::UniqueLocal,
        0xff00..=0xffff => Blocked::Multicast,
        0x0064 if s[1] == 0xff9b && s[2] == 0x0001 => Blocked::Private,
        0x2001 if s[1] == 0x0db8 => Blocked::Reserved,
        0x0100 if s[1..4] == [0, 0, 0] => Blocked::Reserved,
        // The rest of ::/8 (what is left once the IPv4 forms are taken out) is reserved.
        0 => Blocked::Reserved,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`, deprecated), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`),
/// 6to4 (`2002:AABB:CCDD::`) and Teredo (the client's address, inverted, in the last 32 bits).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            Some(v4(hi, lo))
        }
        [0, 0, 0, 0, 0, 0, hi, lo] if !ip.is_unspecified() && !ip.is_loopback() => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        [0x2001, 0, _, _, _, _, hi, lo] => Some(Ipv4Addr::from(!u32::from(v4(hi, lo)))),
        _ => None,
    }
}

/// Why a target was refused. No variant quotes the URL, which may carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("not an absolute http(s) URL with a host, e.g. https://example.com/outbox")]
    NotAUrl,
    #[error("{scheme}:// is not allowed, only https://")]
    NotHttps { scheme: String },
    #[error("{host} could not be resolved")]
    Unresolvable {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{}; only public addresses may be reached", forbidden(host, *ip, *class))]
    Forbidden { host: String, ip: IpAddr, class: Blocked },
}

fn forbidden(host: &str, ip: IpAddr, class: Blocked) -> String {
    if host.parse() == Ok(ip) {
        format!("{ip} is a {class} address")
    } else {
        format!("{host} resolves to {ip}, a {class} address")
    }
}

/// Answers "which addresses does this name have?": the system's resolver, or a fixed table in tests.
#[async_trait]
pub trait HostLookup: Send + Sync {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The system's resolver (getaddrinfo, on tokio's blocking pool), as reqwest uses by default.
pub struct SystemLookup;

#[async_trait]
impl HostLookup for SystemLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|addr| addr.ip()).collect())
    }
}

/// Fixed answers by host name, for tests and loopback fakes; a name not listed does not resolve.
#[cfg(any(test, feature = "local"))]
pub struct FixedLookup {
    answers: Vec<(String, Vec<IpAddr>)>,
}

#[cfg(any(test, feature = "local"))]
impl FixedLookup {
    pub fn new<'a>(answers: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> FixedLookup {
        FixedLookup { answers: answers.into_iter().map(|(host, ips)| (host.to_string(), ips)).collect() }
    }
}

#[cfg(any(test, feature = "local"))]
#[async_trait]
impl HostLookup for FixedLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let answer = self.answers.iter().find(|(name, _)| name.eq_ignore_ascii_case(host));
        answer.map(|(_, ips)| ips.clone()).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
    }
}

/// A target that passed the rules, with the addresses its host had when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vetted {
    pub url: Url,
    /// Empty when private targets are allowed and the host is a name: nothing is checked then, so
    /// nothing is resolved (the local stack may have no DNS at all).
    pub addresses: Vec<SocketAddr>,
}

/// The egress rules of one deployment, with the resolver they check names through.
#[derive(Clone)]
pub struct Egress {
    /// `OUTBOX_ALLOW_PRIVATE_TARGETS`: the local stack and tests with loopback fakes; never in AWS.
    allow_private: bool,
    lookup: Arc<dyn HostLookup>,
}

impl fmt::Debug for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Egress").field("allow_private", &self.allow_private).finish_non_exhaustive()
    }
}

impl Egress {
    /// Public https targets only, or (`allow_private_targets`) http and any address too.
    pub fn new(allow_private_targets: bool) -> Egress {
        Egress { allow_private: allow_private_targets, lookup: Arc::new(SystemLookup) }
    }

    /// The same rules over another resolver (tests).
    pub fn with_lookup(self, lookup: Arc<dyn HostLookup>) -> Egress {
        Egress { lookup, ..self }
    }

    /// What can be checked without DNS: the URL's shape, its scheme, and a host that is an IP
    /// literal (in any form the URL standard reads as one, e.g. `http://2130706433/`). Call it
    /// before each request: a literal never reaches the resolver that `client_builder` installs.
    pub fn parse(&self, raw: &str) -> Result<Url, EgressError> {
        let url = parse_web_url(raw, &["https", "http"]).ok_or(EgressError::NotAUrl)?;
        if url.scheme() != "https" && !self.allow_private {
            return Err(EgressError::NotHttps { scheme: url.scheme().to_string() });
        }
        if let Some(ip) = literal_ip(&url) {
            self.check(&ip.to_string(), ip)?;
        }
        Ok(url)
    }

    /// `parse`, then the host's addresses resolved and every one of them checked; where a URL
    /// is configured (a phone's endpoint, a webhook).
    pub async fn vet(&self, raw: &str) -> Result<Vetted, EgressError> {
        let url = self.parse(raw)?;
        let port = url.port_or_known_default().unwrap_or(443);
        let ips = match url.host() {
            Some(Host::Domain(_)) if self.allow_private => vec![],
            Some(Host::Domain(name)) => self.resolve(name).await?,
            _ => literal_ip(&url).into_iter().collect(),
        };
        Ok(Vetted { addresses: ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect(), url })
    }

    /// The addresses of `host`, all of them allowed; one refused address refuses the name, so a
    /// name cannot mix a public answer with a private one.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, EgressError> {
        let unresolvable = |source| EgressError::Unresolvable { host: host.to_string(), source };
        let ips = match tokio::time::timeout(LOOKUP_TIMEOUT, self.lookup.lookup(host)).await {
            Ok(answer) => answer.map_err(unresolvable)?,
            Err(_) => {
                let late = format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs());
                return Err(unresolvable(io::Error::new(io::ErrorKind::TimedOut, late)));
            }
        };
        if ips.is_empty() {
            return Err(unresolvable(io::Error::new(io::ErrorKind::NotFound, "no addresses")));
        }
        for ip in &ips {
            self.check(host, *ip)?;
        }
        Ok(ips)
    }

    /// A client builder whose connections follow these rules: names resolve through `resolve`
    /// (so an address is checked when it is connected to), no proxy (it would resolve the target
    /// out of sight) and no redirects (one to an IP literal would skip the resolver). Each URL
    /// still goes through `parse` first, for its scheme and IP-literal hosts.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        // Mozilla's roots, compiled in (as the AWS SDK clients'): the platform verifier would read
        // and parse the system's certificate store on the first handshake of each process.
        let roots =
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().filter_map(|der| reqwest::Certificate::from_der(der).ok());
        reqwest::Client::builder()
            .dns_resolver(self.clone())
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only(roots)
    }

    fn check(&self, host: &str, ip: IpAddr) -> Result<(), EgressError> {
        match classify(ip) {
            Some(class) if !self.allow_private => Err(EgressError::Forbidden { host: host.to_string(), ip, class }),
            _ => Ok(()),
        }
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(ip.into()),
        Host::Ipv6(ip) => Some(ip.into()),
        Host::Domain(_) => None,
    }
}

impl reqwest::dns::Resolve for Egress {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.clone();
        Box::pin(async move {
            let ips = Egress::resolve(&egress, name.as_str()).await?;
            // Port 0: reqwest puts the URL's port in.
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The egress refusal somewhere in `err`'s cause chain, e.g. inside a reqwest connect error.
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a EgressError> {
    std::iter::successors(Some(err), |err| err.source()).find_map(|err| err.downcast_ref::<EgressError>())
}

#[cfg(test)]
mod tests;
