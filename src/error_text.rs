//! An error as one line for people: its causes joined by `: `, without the repeats and
//! backtraces some libraries put into their messages.

/// `e` with its causes, each said once: a cause whose text the previous one already holds (an
/// HTTP error that quotes its DNS failure, which is then its cause too) is left out.
pub fn said(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        // candle errors may carry a backtrace in their message.
        let text = text.split("\n   0: ").next().unwrap_or(&text).trim_end().to_string();
        if text.is_empty() || parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::said;
    use anyhow::anyhow;

    #[test]
    fn a_cause_quoted_by_its_wrapper_is_said_once() {
        let dns = anyhow!("failed to lookup address").context("https://hub/x: Dns Failed: failed to lookup address");
        let e = dns.context("request error: https://hub/x: Dns Failed: failed to lookup address").context("cannot reach the hub model a/b");
        assert_eq!(said(&e), "cannot reach the hub model a/b: request error: https://hub/x: Dns Failed: failed to lookup address");
        // Causes that add something are all kept, in order.
        let e = anyhow!("no such file").context("cannot read x.png").context("item cat");
        assert_eq!(said(&e), "item cat: cannot read x.png: no such file");
        assert_eq!(said(&anyhow!("shape mismatch\n   0: candle::backtrace")), "shape mismatch");
    }
}
