//! Which URLs a user may make this service fetch: the check made before any request leaves
//! (and, by [`super::client::get`], on every redirect's target).
//!
//! Two layers keep user-supplied URLs (subscriptions, feed URLs, redirects) away from
//! private networks:
//!
//! 1. **This module, before any network call**: [`check`] refuses a URL that is not
//!    `http`/`https`, carries a user name or password, or whose host is
//!    - a literal IP address that is not public: unspecified, loopback, private (RFC 1918),
//!      shared/CGNAT (100.64.0.0/10), link-local (169.254.0.0/16, with cloud metadata
//!      endpoints), IETF/documentation/benchmarking ranges, multicast, reserved, broadcast;
//!      for IPv6: everything outside global unicast (`2000::/3`, so `::1`, `fc00::/7`
//!      unique-local, `fe80::/10` link-local, `ff00::/8` multicast), the documentation and
//!      special-purpose blocks inside it, and IPv4 addresses embedded in IPv6 (IPv4-mapped
//!      `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) by the IPv4 rules. The URL
//!      parser has already turned decimal (`http://2130706433/`), octal (`0177.0.0.1`), hex
//!      (`0x7f.1`) and short forms into the dotted address checked here;
//!    - a name that is local by construction: `localhost` and `*.localhost`, names under
//!      `.local`, `.internal` (`metadata.google.internal`), `.localdomain`, `.home.arpa`, and
//!      any single-label name (`http://metadata/`), which only a local resolver can answer.
//!
//! 2. **At connection time, in the Spin runtime**: a public name can still resolve to a
//!    private address (DNS rebinding, `127.0.0.1.nip.io`). That is refused by the runtime
//!    config's `[outbound_networking] block_networks` (the addresses each connection
//!    resolves to), which the deployment's `runtime-config.toml` sets; this module cannot see
//!    resolved addresses, as Spin resolves names itself.
//!
//! [`NetPolicy::allow_loopback`] (the `outbound_allow_loopback` variable, for tests only)
//! lets `127.0.0.0/8`, `::1` and the name `localhost` through, and nothing else: the
//! end-to-end tests serve their fixture pages on loopback.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What the check allows beyond public addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Allow `127.0.0.0/8`, `::1` and `localhost` (tests only).
    pub allow_loopback: bool,
}

/// Why a URL may not be fetched. Carries no part of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute URL.
    InvalidUrl,
    /// Not `http` or `https`.
    Scheme,
    /// A user name or password in the URL.
    Userinfo,
    /// No host.
    NoHost,
    /// A literal IP address that is not public.
    PrivateAddress,
    /// A host name that only a local network can resolve.
    LocalName,
}

impl Refusal {
    /// What the client is told (field `url`).
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Refusal::InvalidUrl => "is not a valid URL",
            Refusal::Scheme => "must be an http or https URL",
            Refusal::Userinfo => "must not contain a user name or password",
            Refusal::NoHost => "must name a host",
            Refusal::PrivateAddress => {
                "points to a private, loopback or reserved network address, which is not fetched"
            }
            Refusal::LocalName => "points to a local host name, which is not fetched",
        }
    }

    /// A stable name for logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidUrl => "invalid_url",
            Refusal::Scheme => "scheme",
            Refusal::Userinfo => "userinfo",
            Refusal::NoHost => "no_host",
            Refusal::PrivateAddress => "private_address",
            Refusal::LocalName => "local_name",
        }
    }
}

/// Checks `url` under `policy`, without any network call.
///
/// # Errors
///
/// The [`Refusal`] saying why the URL may not be fetched.
pub fn check(url: &Url, policy: NetPolicy) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Userinfo);
    }
    match url.host() {
        None => Err(Refusal::NoHost),
        Some(Host::Ipv4(ip)) => {
            if is_public_ipv4(ip) || (policy.allow_loopback && ip.is_loopback()) {
                Ok(())
            } else {
                Err(Refusal::PrivateAddress)
            }
        }
        Some(Host::Ipv6(ip)) => {
            if is_public_ipv6(ip) || (policy.allow_loopback && ip == Ipv6Addr::LOCALHOST) {
                Ok(())
            } else {
                Err(Refusal::PrivateAddress)
            }
        }
        Some(Host::Domain(name)) => check_name(name, policy),
    }
}

/// Parses `url` and checks it (see [`check`]).
///
/// # Errors
///
/// [`Refusal::InvalidUrl`] if it does not parse, else as [`check`].
pub fn check_str(url: &str, policy: NetPolicy) -> Result<Url, Refusal> {
    let parsed = Url::parse(url).map_err(|_| Refusal::InvalidUrl)?;
    check(&parsed, policy)?;
    Ok(parsed)
}

/// Suffixes of names that only a local resolver answers.
const LOCAL_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".internal",
    ".localdomain",
    ".home.arpa",
];

fn check_name(name: &str, policy: NetPolicy) -> Result<(), Refusal> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() {
        return Err(Refusal::NoHost);
    }
    if name == "localhost" {
        return if policy.allow_loopback {
            Ok(())
        } else {
            Err(Refusal::LocalName)
        };
    }
    if !name.contains('.') || LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Err(Refusal::LocalName);
    }
    Ok(())
}

/// Whether an IPv4 address is publicly routable (none of the special-purpose ranges of
/// RFC 6890 and its updates that are not global).
#[must_use]
pub fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                  // "this network", 0.0.0.0/8
        || a == 10                                        // private
        || (a == 100 && (64..=127).contains(&b))          // shared address space (CGNAT)
        || a == 127                                       // loopback
        || (a == 169 && b == 254)                         // link-local (cloud metadata)
        || (a == 172 && (16..=31).contains(&b))           // private
        || (a == 192 && b == 0 && c == 0)                 // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                 // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)               // 6to4 relay anycast
        || (a == 192 && b == 168)                         // private
        || (a == 198 && (b == 18 || b == 19))             // benchmarking
        || (a == 198 && b == 51 && c == 100)              // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)               // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !special
}

/// Whether an IPv6 address is publicly routable: global unicast (`2000::/3`) outside the
/// special-purpose blocks, or an embedded IPv4 address (mapped, NAT64, 6to4) that is public.
#[must_use]
pub fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d: the IPv4 address decides.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_ipv4(embedded_v4(s[6], s[7]));
    }
    if s[0] & 0xe000 != 0x2000 {
        // Outside global unicast: ::, ::1, IPv4-compatible ::a.b.c.d, 64:ff9b:1::/48,
        // 100::/64 discard, fc00::/7, fe80::/10, fec0::/10, ff00::/8, ...
        return false;
    }
    if s[0] == 0x2002 {
        // 6to4: the IPv4 address in bits 16..48.
        return is_public_ipv4(embedded_v4(s[1], s[2]));
    }
    // 2001::/23 (IETF protocol assignments, Teredo), 2001:db8::/32 and 3fff::/20
    // (documentation).
    let special =
        (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000);
    !special
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: NetPolicy = NetPolicy {
        allow_loopback: false,
    };
    const LOOPBACK: NetPolicy = NetPolicy {
        allow_loopback: true,
    };

    fn refusal(url: &str, policy: NetPolicy) -> Option<Refusal> {
        check_str(url, policy).err()
    }

    #[test]
    fn public_urls_pass() {
        for url in [
            "https://example.com/feed",
            "http://blog.example.org:8080/x?y#z",
            "https://8.8.8.8/",
            "https://[2606:4700:4700::1111]/",
            "https://[::ffff:8.8.8.8]/",
            "https://[64:ff9b::808:808]/",
            "https://[2002:808:808::1]/",
            "https://www.youtube.com/@x",
            "http://100.63.255.255/",
            "http://100.128.0.1/",
            "http://172.32.0.1/",
            "http://192.169.0.1/",
        ] {
            assert_eq!(refusal(url, STRICT), None, "{url}");
        }
    }

    #[test]
    fn private_literal_addresses_are_refused() {
        for url in [
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:3000/",
            "http://127.1.2.3/",
            "http://0.0.0.0/",
            "http://0.1.2.3/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://192.0.0.8/",
            "http://192.0.2.1/",
            "http://198.18.0.1/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://[::]/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[64:ff9b:1::1]/",
            "http://[2002:a00:1::]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://[100::1]/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
            "http://[3fff::1]/",
            // Forms the URL parser normalises to dotted IPv4.
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://012.0.0.1/",
            "http://0xA9.0xFE.0xA9.0xFE/",
            "http://2852039166/",
        ] {
            assert_eq!(refusal(url, STRICT), Some(Refusal::PrivateAddress), "{url}");
        }
    }

    #[test]
    fn local_names_are_refused() {
        for url in [
            "http://localhost/",
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://api.localhost/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://metadata/",
            "http://printer.local/",
            "http://router.home.arpa/",
            "http://box.localdomain/",
            "http://intranet/",
        ] {
            assert_eq!(refusal(url, STRICT), Some(Refusal::LocalName), "{url}");
        }
    }

    #[test]
    fn other_schemes_and_userinfo_are_refused() {
        assert_eq!(refusal("ftp://example.com/", STRICT), Some(Refusal::Scheme));
        assert_eq!(refusal("file:///etc/passwd", STRICT), Some(Refusal::Scheme));
        assert_eq!(
            refusal("gopher://example.com/", STRICT),
            Some(Refusal::Scheme)
        );
        assert_eq!(refusal("data:text/plain,hi", STRICT), Some(Refusal::Scheme));
        assert_eq!(
            refusal("https://user@example.com/", STRICT),
            Some(Refusal::Userinfo)
        );
        assert_eq!(
            refusal("https://:pw@example.com/", STRICT),
            Some(Refusal::Userinfo)
        );
        assert_eq!(refusal("not a url", STRICT), Some(Refusal::InvalidUrl));
    }

    #[test]
    fn allow_loopback_allows_loopback_only() {
        for url in [
            "http://127.0.0.1:3000/",
            "http://127.5.6.7/",
            "http://[::1]:8080/",
            "http://localhost:1234/",
        ] {
            assert_eq!(refusal(url, LOOPBACK), None, "{url}");
            assert!(refusal(url, STRICT).is_some(), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://api.localhost/",
            "http://metadata.google.internal/",
            "http://192.168.0.1/",
        ] {
            assert!(refusal(url, LOOPBACK).is_some(), "{url}");
        }
    }
}
