//! Kafka's topic name rules (SPEC §4.9, `clients/.../common/internals/Topic.java`).

/// Longest legal topic name (`Topic.MAX_NAME_LENGTH`).
pub const MAX_NAME_LENGTH: usize = 249;

/// Check `name` against Kafka's rules: non-empty, not `.` or `..`, at most
/// [`MAX_NAME_LENGTH`] characters, only ASCII alphanumerics, `.`, `_` and `-`.
///
/// The error is Kafka's message for `INVALID_TOPIC_EXCEPTION`.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".to_string());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".to_string());
    }
    // All legal characters are ASCII, so bytes = characters for any name that passes the
    // character check; count chars so the length message is right for the others too.
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, \
             topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII \
             alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether `name` contains a character that may collide (`.` or `_`).
pub fn has_collision_chars(name: &str) -> bool {
    name.contains(['.', '_'])
}

/// The name with `.` replaced by `_`; two names collide iff these are equal (metric names
/// would clash, `Topic.unifyCollisionChars`).
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_legal_names() {
        for n in ["a", "my-topic_1.x", "A-Z.0_9", &"x".repeat(249)] {
            assert_eq!(validate(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn rejects_illegal_names_with_kafka_messages() {
        assert_eq!(
            validate("").unwrap_err(),
            "Topic name is illegal, it can't be empty"
        );
        assert_eq!(
            validate("..").unwrap_err(),
            "Topic name cannot be \".\" or \"..\""
        );
        assert!(
            validate(&"x".repeat(250))
                .unwrap_err()
                .contains("longer than 249")
        );
        assert!(validate("a b").unwrap_err().contains("\"a b\" is illegal"));
        assert!(validate("é").is_err());
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(has_collision_chars("a.b"));
        assert!(!has_collision_chars("ab-c"));
        assert_eq!(unify_collision_chars("a.b_c"), "a_b_c");
    }
}
