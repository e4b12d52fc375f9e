//! The URL check every fetch of the ingestion goes through (each redirect hop too), before
//! any request is sent and without any network call: only `http`/`https`, no credentials in
//! the URL, and no literal private, loopback, link-local, unique-local, multicast or
//! unspecified address and no `localhost` name. Loopback is allowed only when the
//! configuration says so (the tests' fixture server).
//!
//! A name that *resolves* to a private address is not caught here (that needs DNS); the
//! host's `[outbound_networking] block_networks` in the runtime config refuses those
//! (README, "Private networks").
//!
//! Interim: the shared check (`src/net_guard.rs`, owned by the subscriptions work) replaces
//! this module once it is on main.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL may not be fetched. Shows no part of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefused {
    /// Not an absolute URL.
    Invalid,
    /// A scheme other than `http` or `https`.
    Scheme,
    /// A user name or password in the URL.
    Credentials,
    /// A loopback, private, link-local or otherwise non-public address, or `localhost`.
    PrivateNetwork,
}

impl fmt::Display for UrlRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "the URL is not a valid absolute URL",
            Self::Scheme => "only http and https URLs are fetched",
            Self::Credentials => "URLs with credentials are not fetched",
            Self::PrivateNetwork => "the URL points into a private or loopback network",
        })
    }
}

impl std::error::Error for UrlRefused {}

/// Parses `url` and checks it may be fetched; `allow_loopback` lets `127.0.0.0/8`, `::1`
/// and `localhost` through (tests only).
pub fn check_url(url: &str, allow_loopback: bool) -> Result<Url, UrlRefused> {
    let parsed = Url::parse(url).map_err(|_| UrlRefused::Invalid)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlRefused::Credentials);
    }
    let allowed = match parsed.host() {
        None => return Err(UrlRefused::Invalid),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost" || name.ends_with(".localhost");
            !local || allow_loopback
        }
        Some(Host::Ipv4(ip)) => ip_allowed(IpAddr::V4(ip), allow_loopback),
        Some(Host::Ipv6(ip)) => ip_allowed(IpAddr::V6(ip), allow_loopback),
    };
    if allowed {
        Ok(parsed)
    } else {
        Err(UrlRefused::PrivateNetwork)
    }
}

fn ip_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_allowed(v4, allow_loopback),
            None => v6_allowed(v6, allow_loopback),
        },
    }
}

fn v4_allowed(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10 (carrier-grade NAT)
    let reserved = a >= 240; // 240.0.0.0/4 and broadcast
    let this_network = a == 0; // 0.0.0.0/8
    let benchmarking = a == 198 && (b == 18 || b == 19); // 198.18.0.0/15
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || reserved
        || this_network
        || benchmarking)
}

fn v6_allowed(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    let site_local = first & 0xffc0 == 0xfec0; // fec0::/10 (deprecated)
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8; // 2001:db8::/32
    // ::/96 (IPv4-compatible, deprecated) also covers :: itself.
    let ipv4_compatible = ip.segments()[..6].iter().all(|s| *s == 0);
    !(ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || site_local
        || documentation
        || ipv4_compatible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_http_and_https_pass() {
        for url in [
            "https://www.youtube.com/feeds/videos.xml?channel_id=UC123",
            "http://example.com/feed",
            "https://93.184.216.34/rss",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/feed",
        ] {
            assert!(check_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn private_loopback_and_link_local_literals_are_refused() {
        for url in [
            "http://10.0.0.1/feed",
            "http://169.254.169.254/latest/meta-data/",
            "http://192.168.1.1/",
            "http://172.16.0.1/",
            "http://127.0.0.1:8080/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://feeds.localhost/",
        ] {
            assert_eq!(
                check_url(url, false).err(),
                Some(UrlRefused::PrivateNetwork),
                "{url}"
            );
        }
    }

    #[test]
    fn loopback_only_with_the_flag() {
        for url in [
            "http://127.0.0.1:8080/feed",
            "http://[::1]/",
            "http://localhost/",
        ] {
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://[fd00::1]/",
        ] {
            assert_eq!(
                check_url(url, true).err(),
                Some(UrlRefused::PrivateNetwork),
                "{url}"
            );
        }
    }

    #[test]
    fn other_schemes_credentials_and_garbage_are_refused() {
        assert_eq!(
            check_url("file:///etc/passwd", true).err(),
            Some(UrlRefused::Scheme)
        );
        assert_eq!(
            check_url("ftp://example.com/", true).err(),
            Some(UrlRefused::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/", true).err(),
            Some(UrlRefused::Credentials)
        );
        assert_eq!(
            check_url("/relative", true).err(),
            Some(UrlRefused::Invalid)
        );
    }
}
