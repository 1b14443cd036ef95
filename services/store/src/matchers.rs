//! PromQL matcher lists built from request parts (namespaces, selectors).

/// `label="value"` in front of a comma-separated matcher list (which may be empty).
pub fn with_equal(label: &str, value: &str, matchers: &str) -> String {
    let equal = format!("{label}={}", tachyscale_promql::quote_string(value));
    if matchers.is_empty() {
        equal
    } else {
        format!("{equal},{matchers}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_a_quoted_matcher() {
        assert_eq!(with_equal("namespace", "shop", ""), r#"namespace="shop""#);
        assert_eq!(
            with_equal("ns", "a\"b", r#"app="web""#),
            r#"ns="a\"b",app="web""#
        );
    }
}
