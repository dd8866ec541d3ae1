//! The client's words, from the language catalogue (`cli_*` keys), in the language the
//! librarian asked for: `--lang`, else `SPINDLE_LANG`, else the locale (`LC_ALL`,
//! `LC_MESSAGES`, `LANG`: `zh…` is Chinese); English otherwise. The server is asked for the
//! same language, so its error details read alike.

use std::sync::OnceLock;

use spindle_i18n::Message;

static LANG: OnceLock<&'static str> = OnceLock::new();

/// The catalogue's language for a setting such as `zh_CN.UTF-8`, `zh-CN`, `en_GB` or `C`.
pub fn language_of(setting: &str) -> &'static str {
    if setting.to_ascii_lowercase().starts_with("zh") {
        "zh-CN"
    } else {
        "en"
    }
}

/// Settles the language once, from the flag or the environment.
pub fn choose(flag: Option<&str>) -> &'static str {
    let from_env = || {
        ["SPINDLE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    };
    let setting = flag
        .map(str::to_string)
        .or_else(from_env)
        .unwrap_or_default();
    LANG.get_or_init(|| language_of(&setting))
}

/// The language settled on (English until [`choose`] is called).
pub fn lang() -> &'static str {
    LANG.get().copied().unwrap_or("en")
}

/// A message in the chosen language.
pub fn say(message: Message) -> String {
    message.render(lang())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spindle_i18n::detail;

    #[test]
    fn locales_choose_the_language() {
        assert_eq!(language_of("zh_CN.UTF-8"), "zh-CN");
        assert_eq!(language_of("zh-TW"), "zh-CN");
        assert_eq!(language_of("en_GB.UTF-8"), "en");
        assert_eq!(language_of("C"), "en");
        assert_eq!(language_of(""), "en");
        assert_eq!(
            detail!("cli_hashing_done", secs = "1.5").render("zh-CN"),
            "哈希计算完成，用时 1.5 秒"
        );
    }
}
