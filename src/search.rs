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

/// Whether a word of `text` (normalised with [`normalize`]) starts with `term` — what the
/// full-text indexes' prefix queries do, for texts kept out of them (service names).
pub fn has_word_starting_with(text: &str, term: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.starts_with(term))
}

/// Whether every query term occurs in `text` (normalised with [`normalize`]): inside a
/// word, or, for terms of four letters and more, with one typo (two from eight letters)
/// against the start of a word. Cheap enough for a catalog of a few thousand services.
pub fn fuzzy_matches(terms: &[String], text: &str) -> bool {
    let words: Vec<Vec<char>> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().collect())
        .collect();
    terms.iter().all(|t| {
        let term: Vec<char> = t.chars().collect();
        words.iter().any(|w| word_matches(&term, w))
    })
}

fn word_matches(term: &[char], word: &[char]) -> bool {
    if term.len() <= word.len() && word.windows(term.len()).any(|w| w == term) {
        return true;
    }
    if term.len() < 4 {
        return false;
    }
    let allowed = if term.len() >= 8 { 2 } else { 1 };
    // The term may be a typed beginning of the word: compare with prefixes of nearby length.
    let shortest = term.len().saturating_sub(allowed).max(1);
    (shortest..=(term.len() + allowed).min(word.len()))
        .any(|len| edit_distance(term, &word[..len]) <= allowed)
}

/// Levenshtein distance with adjacent transpositions (optimal string alignment).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
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
    fn finds_word_beginnings_like_the_prefix_index() {
        let name = normalize("Замена смесителя (кухня/ванная)");
        assert!(has_word_starting_with(&name, "смес"));
        assert!(has_word_starting_with(&name, "ванная"));
        assert!(has_word_starting_with(&name, "замена"));
        assert!(
            !has_word_starting_with(&name, "меси"),
            "inside a word is not a beginning"
        );
        assert!(!has_word_starting_with(&name, "заменаа"));
        assert!(has_word_starting_with(&normalize("Ёлки"), "елк"));
    }

    #[test]
    fn splits_queries_into_plain_words() {
        assert_eq!(terms("  Иванов, Ленина 10 "), ["иванов", "ленина", "10"]);
        // Nothing a user types is FTS syntax: only letters and digits reach the query.
        assert_eq!(
            terms("\"OR\" NEAR(a b) _s1*"),
            ["or", "near", "a", "b", "s1"]
        );
        assert!(terms(" ,.- ").is_empty());
        assert_eq!(terms("a b c d e f g h i j").len(), 8);
    }

    fn finds(query: &str, text: &str) -> bool {
        fuzzy_matches(&terms(query), &normalize(text))
    }

    #[test]
    fn fuzzy_search_tolerates_case_yo_and_one_typo() {
        assert!(finds("смеситель", "Замена смесителя Модель смесителя"));
        assert!(finds("СМЕСИТ", "Замена смесителя"));
        assert!(finds("счетчик", "Установка счётчиков воды"));
        assert!(finds("смеситль", "Замена смесителя"));
        assert!(finds("змена", "Замена замка"));
        assert!(finds("замна замка", "Замена замка"));
        assert!(!finds("смеситель", "Генеральная уборка"));
        assert!(!finds("кот", "Замена замка"));
        assert!(!finds("замок окно", "Замена замка"));
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(edit_distance(&c("замок"), &c("замок")), 0);
        assert_eq!(edit_distance(&c("змаок"), &c("замок")), 1);
        assert_eq!(edit_distance(&c("замк"), &c("замок")), 1);
        assert_eq!(edit_distance(&c(""), &c("abc")), 3);
    }
}
