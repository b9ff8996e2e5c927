//! Topic patterns: `*` matches any run of characters (including none); everything else matches
//! itself. `email:*` is a prefix, `*.sent` a suffix, `*` any topic.

/// Whether `topic` matches `pattern`.
pub(super) fn matches(pattern: &str, topic: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == topic;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !topic.starts_with(first) || topic.len() < first.len() + last.len() || !topic.ends_with(last) {
        return false;
    }
    let mut rest = &topic[first.len()..topic.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("email:send", "email:send"));
        assert!(!matches("email:send", "email:sent"));
        assert!(matches("email:*", "email:send"));
        assert!(matches("email:*", "email:"));
        assert!(!matches("email:*", "sms:send"));
        assert!(matches("*.sent", "mail.sent"));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxc"));
        assert!(!matches("ab*ba", "aba"));
    }
}
