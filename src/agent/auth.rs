//! Whether an agent's mail really comes from the agent (RFC 8601).

/// Whether our own mail server vouched for the sender of a message that
/// claims to be from `address`: the first `Authentication-Results` header
/// (RFC 8601) from `authserv_id` must show DKIM, SPF or DMARC passing for
/// the address's domain. Mail servers add theirs on top and remove forged
/// ones carrying their id, so only the first one with our id counts.
/// `headers` are (lower-case name, value) in message order.
pub fn authenticated(
    headers: &[(String, String)],
    authserv_id: &str,
    address: &str,
) -> Result<(), String> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    let ours = headers
        .iter()
        .filter(|(n, _)| n == "authentication-results")
        .find(|(_, v)| {
            let id = v.split(';').next().unwrap_or_default();
            // `authserv-id [version]`
            id.split_whitespace()
                .next()
                .is_some_and(|i| i.eq_ignore_ascii_case(authserv_id))
        });
    let Some((_, value)) = ours else {
        return Err(format!("no Authentication-Results from {authserv_id}"));
    };
    for result in value.split(';').skip(1) {
        let words: Vec<String> = result
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let Some((method, outcome)) = words.first().and_then(|w| w.split_once('=')) else {
            continue;
        };
        if outcome != "pass" {
            continue;
        }
        let property = |keys: &[&str]| {
            words.iter().skip(1).find_map(|w| {
                let (k, v) = w.split_once('=')?;
                keys.contains(&k).then(|| v.trim_matches('"').to_owned())
            })
        };
        let checked = match method {
            "dkim" => property(&["header.d", "header.i"]),
            "spf" => property(&["smtp.mailfrom", "smtp.helo"]),
            "dmarc" => property(&["header.from"]),
            _ => None,
        };
        if let Some(v) = checked {
            let d = v.rsplit_once('@').map_or(v.as_str(), |(_, d)| d);
            if d == domain {
                return Ok(());
            }
        }
    }
    Err(format!(
        "{authserv_id} did not see DKIM, SPF or DMARC pass for {domain}: {}",
        value.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| ("authentication-results".to_owned(), (*v).to_owned()))
            .collect()
    }
    #[test]
    fn only_our_servers_word_counts() {
        let agent = "ola@example.com";
        let ok = ar(&["mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=none"]);
        assert_eq!(authenticated(&ok, "mx.example.com", agent), Ok(()));
        let spf = ar(&["MX.example.com 1; spf=pass smtp.mailfrom=ola@example.com"]);
        assert_eq!(authenticated(&spf, "mx.example.com", agent), Ok(()));
        // A pass for another domain proves nothing about ours.
        let other = ar(&["mx.example.com; dkim=pass header.d=evil.example"]);
        assert!(authenticated(&other, "mx.example.com", agent).is_err());
        let failed = ar(&[
            "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com",
        ]);
        let e = authenticated(&failed, "mx.example.com", agent).unwrap_err();
        assert!(e.contains("did not see") && e.contains("dkim=fail"), "{e}");
        // A forger's header lies below the one our server put on top.
        let forged = ar(&[
            "mx.example.com; dkim=none",
            "mx.example.com; dkim=pass header.d=example.com",
        ]);
        assert!(authenticated(&forged, "mx.example.com", agent).is_err());
        // Another server's results, or none at all.
        let theirs = ar(&["relay.evil.example; dkim=pass header.d=example.com"]);
        assert_eq!(
            authenticated(&theirs, "mx.example.com", agent),
            Err("no Authentication-Results from mx.example.com".into())
        );
        assert!(authenticated(&[], "mx.example.com", agent).is_err());
    }
}
