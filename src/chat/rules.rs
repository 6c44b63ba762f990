//! What a message may be; the same check runs in the browser and on the server.

/// Longest message.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Most photos in one message.
pub const MAX_PHOTOS: usize = 5;

/// The text to store, or why the message cannot be sent. Text is kept as typed (it is
/// shown as plain text, never as HTML).
pub fn check_message(body: &str, photos: usize) -> Result<String, String> {
    let body = body.trim();
    if body.is_empty() && photos == 0 {
        return Err("Напишите сообщение или приложите фото".into());
    }
    if body.chars().count() > MAX_MESSAGE_CHARS {
        return Err(format!("Сообщение длиннее {MAX_MESSAGE_CHARS} символов"));
    }
    if photos > MAX_PHOTOS {
        return Err(format!("Не больше {MAX_PHOTOS} фото в одном сообщении"));
    }
    crate::text::check_text(body)?;
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages_need_a_photo() {
        assert!(check_message("   \n", 0).is_err());
        assert_eq!(check_message("  ", 1), Ok(String::new()));
        assert_eq!(
            check_message("  Здравствуйте ", 0),
            Ok("Здравствуйте".into())
        );
    }

    #[test]
    fn long_messages_and_many_photos_are_refused() {
        let long = "я".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(check_message(&long, 0).unwrap_err().contains("4000"));
        assert!(check_message(&"я".repeat(MAX_MESSAGE_CHARS), 0).is_ok());
        assert!(check_message("фото", MAX_PHOTOS + 1).is_err());
    }

    #[test]
    fn direction_and_control_characters_are_refused() {
        assert!(check_message("Оплачено \u{202E}00001", 0).is_err());
        assert!(check_message("a\u{0}b", 0).is_err());
        assert!(check_message("Строка 1\nСтрока 2", 0).is_ok());
    }

    #[test]
    fn markup_is_kept_as_text() {
        assert_eq!(
            check_message("<script>alert(1)</script>", 0),
            Ok("<script>alert(1)</script>".into())
        );
    }
}
