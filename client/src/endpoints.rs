//! Parsing of `--bootstrap-server host:port[,host:port]` lists into gRPC URIs.

use crate::ClientError;

/// Parses a comma-separated `host:port` list (Kafka's `--bootstrap-server` syntax) into
/// `http://host:port` URIs, in order, without duplicates. Entries that already carry an
/// `http://` or `https://` scheme are kept as they are. Blank entries are skipped; an empty
/// list or an entry without a numeric port is an error naming the entry.
pub fn parse_bootstrap(bootstrap: &str) -> Result<Vec<String>, ClientError> {
    let invalid = |reason: String| ClientError::InvalidBootstrap {
        bootstrap: bootstrap.to_owned(),
        reason,
    };
    let mut out: Vec<String> = Vec::new();
    for entry in bootstrap
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let uri = normalize_endpoint(entry).map_err(invalid)?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "no endpoint given; expected host:port[,host:port]".to_owned(),
        ));
    }
    Ok(out)
}

/// Turns one `host:port` (or `scheme://host:port`) into a URI tonic can dial.
pub(crate) fn normalize_endpoint(entry: &str) -> Result<String, String> {
    let (scheme, authority) = match entry.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s, rest.trim_end_matches('/')),
        Some((s, _)) => return Err(format!("entry {entry:?}: unsupported scheme {s:?}")),
        None => ("http", entry),
    };
    let Some((host, port)) = authority.rsplit_once(':') else {
        return Err(format!("entry {entry:?} has no port; expected host:port"));
    };
    if host.is_empty() {
        return Err(format!("entry {entry:?} has an empty host"));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "entry {entry:?}: port {port:?} is not a number in 0..=65535"
        ));
    }
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_bootstrap_accepts_kafka_style_lists() {
        let got =
            parse_bootstrap(" 127.0.0.1:9093, host-b:9094 ,,http://c:1,127.0.0.1:9093").unwrap();
        assert_eq!(
            got,
            ["http://127.0.0.1:9093", "http://host-b:9094", "http://c:1"]
        );
        assert_eq!(
            parse_bootstrap("[::1]:9093").unwrap(),
            ["http://[::1]:9093"]
        );
    }

    #[test]
    fn parse_bootstrap_rejects_missing_port_and_empty_list() {
        for bad in [
            "",
            " , ",
            "localhost",
            "a:b",
            ":9093",
            "ftp://a:1",
            "a:70000",
        ] {
            assert!(
                matches!(
                    parse_bootstrap(bad),
                    Err(ClientError::InvalidBootstrap { .. })
                ),
                "{bad:?} should be rejected"
            );
        }
    }
}
