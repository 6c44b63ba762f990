//! What people type and upload, checked in one place: file names are cleaned (path,
//! control and direction characters stripped, shortened keeping the extension); free
//! texts that carry such characters are refused, because they can make a text or a name
//! read differently from what it is (`отчёт\u{202E}fdp.exe` shows as «отчётexe.pdf»).
//! Pure code: the browser shows the same messages the server answers.

/// Longest stored file name, in characters (the extension included).
pub const MAX_FILE_NAME_CHARS: usize = 120;
/// Longest extension that is kept whole when a name is shortened.
const MAX_EXTENSION_CHARS: usize = 10;

/// Characters that change the direction of the text around them (Unicode bidi controls).
pub fn is_direction_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Invisible characters that only disguise a file name (zero widths, word joiner, BOM).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// A character refused in free texts: a control character other than a line break or a
/// tab, or a direction control.
fn is_refused_in_text(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_direction_control(c)
}

/// How a refused character is named in a message.
fn describe(c: char) -> String {
    if is_direction_control(c) {
        format!("символ смены направления текста (U+{:04X})", c as u32)
    } else {
        format!("управляющий символ (U+{:04X})", c as u32)
    }
}

/// A free text (a message, a comment, an answer, a description) may hold line breaks, but
/// no other control characters and no direction controls.
pub fn check_text(text: &str) -> Result<(), String> {
    match text.chars().find(|c| is_refused_in_text(*c)) {
        Some(c) => Err(format!(
            "В тексте есть невидимый {}: уберите его",
            describe(c)
        )),
        None => Ok(()),
    }
}

/// A one-line text (a name, a title): like [`check_text`], and no line breaks or tabs.
pub fn check_line(text: &str) -> Result<(), String> {
    check_text(text)?;
    if text.trim().contains(['\n', '\r', '\t']) {
        return Err("Название пишется в одну строку".into());
    }
    Ok(())
}

/// The name to store for an uploaded file: its last path component without control,
/// direction and invisible characters, trimmed, at most [`MAX_FILE_NAME_CHARS`] long with
/// its extension kept. Empty when nothing usable is left.
pub fn clean_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_direction_control(*c) && !is_invisible(*c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() <= MAX_FILE_NAME_CHARS {
        return cleaned.to_owned();
    }
    let extension = cleaned.rsplit_once('.').map(|(_, e)| e).filter(|e| {
        (1..=MAX_EXTENSION_CHARS).contains(&e.chars().count())
            && e.chars().all(char::is_alphanumeric)
    });
    match extension {
        Some(ext) => {
            let stem_chars = MAX_FILE_NAME_CHARS - ext.chars().count() - 1;
            let stem: String = cleaned.chars().take(stem_chars).collect();
            format!("{}.{ext}", stem.trim_end_matches([' ', '.']).trim_end())
        }
        None => cleaned
            .chars()
            .take(MAX_FILE_NAME_CHARS)
            .collect::<String>()
            .trim_end()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_only_the_last_path_component() {
        assert_eq!(clean_file_name("C:\\Users\\me\\акт.pdf"), "акт.pdf");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("  фото 1.jpg  "), "фото 1.jpg");
    }

    #[test]
    fn strips_nul_control_direction_and_invisible_characters() {
        assert_eq!(clean_file_name("a\u{0}b.txt"), "ab.txt");
        assert_eq!(clean_file_name("отчёт\u{202E}fdp.exe"), "отчётfdp.exe");
        assert_eq!(
            clean_file_name("\u{2067}счёт\u{2069}\u{200B}.pdf"),
            "счёт.pdf"
        );
        assert_eq!(clean_file_name("\u{7}\u{1b}\u{9f}"), "");
    }

    #[test]
    fn a_long_name_is_shortened_keeping_its_extension() {
        let long = format!("{}.jpeg", "я".repeat(300));
        let name = clean_file_name(&long);
        assert_eq!(name.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(name.ends_with("я.jpeg"), "{name}");
        // Without a real extension the name is simply cut.
        let name = clean_file_name(&"a".repeat(500));
        assert_eq!(name, "a".repeat(MAX_FILE_NAME_CHARS));
        // A stem cut at a space or a dot does not leave «name .pdf» or «name..pdf».
        let name = clean_file_name(&format!("{} {}.pdf", "b".repeat(115), "c".repeat(50)));
        assert_eq!(name, format!("{}.pdf", "b".repeat(115)));
    }

    #[test]
    fn texts_with_line_breaks_pass_and_with_controls_are_refused() {
        assert_eq!(check_text("Здравствуйте!\nКран течёт.\tСрочно"), Ok(()));
        assert_eq!(check_text("👨‍👩‍👧 семья, שלום, مرحبا"), Ok(()));
        let refused = check_text("оплачено\u{202E}00001").unwrap_err();
        assert!(refused.contains("U+202E"), "{refused}");
        assert!(check_text("a\u{0}b").unwrap_err().contains("U+0000"));
        assert!(check_text("\u{1b}[31m").is_err());
        assert!(check_line("Иван\nПетров").is_err());
        assert_eq!(check_line("ООО «Ромашка»"), Ok(()));
    }

    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '\u{0}', '\u{202E}', '\u{2066}', '\u{200F}', '\u{200B}', '\u{FEFF}', '/', '\\',
                '.', ' ', '\n', 'я',
            ]),
        ]
    }

    proptest! {
        #[test]
        fn a_cleaned_name_is_short_safe_and_stable(raw in prop::collection::vec(any_char(), 0..400)) {
            let raw: String = raw.into_iter().collect();
            let name = clean_file_name(&raw);
            prop_assert!(name.chars().count() <= MAX_FILE_NAME_CHARS);
            prop_assert!(!name.contains(['/', '\\']));
            prop_assert!(name.chars().all(|c| !c.is_control() && !is_direction_control(c) && !is_invisible(c)));
            prop_assert_eq!(clean_file_name(&name), name.clone());
            prop_assert!(check_line(&name).is_ok());
        }

        #[test]
        fn the_extension_survives_shortening(
            stem in "[a-zA-Zа-яА-Я0-9 _-]{1,400}",
            ext in prop::sample::select(vec!["pdf", "jpg", "jpeg", "xlsx", "heic", "docx"]),
        ) {
            prop_assume!(!stem.trim().is_empty());
            let name = clean_file_name(&format!("{stem}.{ext}"));
            let suffix = format!(".{ext}");
            prop_assert!(name.ends_with(&suffix), "{}", name);
        }

        #[test]
        fn a_text_is_refused_exactly_when_it_holds_a_refused_character(
            text in prop::collection::vec(any_char(), 0..200)
        ) {
            let text: String = text.into_iter().collect();
            prop_assert_eq!(check_text(&text).is_err(), text.chars().any(is_refused_in_text));
        }
    }
}
