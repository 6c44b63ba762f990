//! Text normalisation and full-text queries, shared by indexing and searching so both
//! fold case and «ё» the same way.

/// Lower-cases and folds «ё» to «е» (SQLite's FTS5 folds case but not «ё»).
pub fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Words of a search box, normalised, at most eight.
pub fn terms(query: &str) -> Vec<String> {
    normalize(query)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(str::to_owned)
        .collect()
}

/// An FTS5 MATCH expression: every word as a prefix, all required; `None` for no words.
/// Words are quoted, so nothing a user types is read as FTS syntax.
pub fn fts_query(query: &str) -> Option<String> {
    let terms = terms(query);
    if terms.is_empty() {
        return None;
    }
    Some(
        terms
            .iter()
            .map(|t| format!("\"{}\"*", t.replace('"', "")))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_yo() {
        assert_eq!(normalize("СЕМЁНОВ Пётр"), "семенов петр");
        assert_eq!(normalize("Ёлкин"), "елкин");
    }

    #[test]
    fn builds_safe_prefix_queries() {
        assert_eq!(
            fts_query("  Иванов, Ленина 10 ").as_deref(),
            Some("\"иванов\"* \"ленина\"* \"10\"*")
        );
        assert_eq!(
            fts_query("\"OR\" NEAR(a b)").as_deref(),
            Some("\"or\"* \"near\"* \"a\"* \"b\"*")
        );
        assert_eq!(fts_query(" ,.- "), None);
        assert_eq!(terms("a b c d e f g h i j").len(), 8);
    }
}
