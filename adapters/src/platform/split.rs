//! Cutting an agent's reply into pieces that one platform send can carry:
//! how long a piece may be ([`Limit`]) and where it is cut ([`split`]).

/// How a platform measures the longest text one send may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many characters (Unicode scalar values): Telegram 4096,
    /// Messenger 2000.
    Chars(usize),
    /// At most this many UTF-8 bytes: WeChat 2048.
    Bytes(usize),
}

/// Splits `text` into pieces each within `limit`, so a long reply reaches
/// the customer whole instead of being refused.
///
/// Cuts fall on character boundaries, after the last newline of a piece's
/// final fifth, else after its last whitespace there, else at the limit (a
/// word is cut only when it is that long). The whitespace at a cut stays at
/// the end of the earlier piece, so the pieces concatenated give back `text`
/// exactly. No piece is empty; an empty text gives no piece. A single
/// character wider than a byte limit still goes, alone, rather than being
/// lost.
pub fn split(text: &str, limit: Limit) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(piece_end(rest, limit));
        pieces.push(piece.to_owned());
        rest = tail;
    }
    pieces
}

/// Byte index where the first piece of a non-empty `rest` ends.
fn piece_end(rest: &str, limit: Limit) -> usize {
    let widest = widest_fit(rest, limit);
    if widest == rest.len() {
        return widest;
    }
    if widest == 0 {
        return rest.chars().next().map_or(rest.len(), char::len_utf8);
    }
    let final_fifth = final_fifth_start(rest, limit).min(widest);
    soft_cut(&rest[final_fifth..widest]).map_or(widest, |at| final_fifth + at)
}

/// The longest prefix of `rest` (as a byte index) within `limit`.
fn widest_fit(rest: &str, limit: Limit) -> usize {
    match limit {
        Limit::Chars(chars) => rest.char_indices().nth(chars).map_or(rest.len(), |(at, _)| at),
        Limit::Bytes(bytes) => rest.floor_char_boundary(bytes),
    }
}

/// Where the last fifth of a full piece begins: a cut is looked for there
/// only, so pieces stay close to the limit.
fn final_fifth_start(rest: &str, limit: Limit) -> usize {
    match limit {
        Limit::Chars(chars) => rest.char_indices().nth(chars - chars / 5).map_or(rest.len(), |(at, _)| at),
        Limit::Bytes(bytes) => rest.ceil_char_boundary(bytes - bytes / 5),
    }
}

/// The cut after the last newline of `window`, else after its last
/// whitespace (byte index within `window`).
fn soft_cut(window: &str) -> Option<usize> {
    window.rfind('\n').map(|at| at + 1).or_else(|| {
        window.char_indices().rev().find(|(_, c)| c.is_whitespace()).map(|(at, c)| at + c.len_utf8())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(piece: &str, limit: Limit) -> bool {
        match limit {
            Limit::Chars(chars) => piece.chars().count() <= chars,
            Limit::Bytes(bytes) => piece.len() <= bytes,
        }
    }

    #[test]
    fn an_empty_text_gives_no_piece() {
        assert!(split("", Limit::Chars(10)).is_empty());
        assert!(split("", Limit::Bytes(10)).is_empty());
    }

    #[test]
    fn a_text_within_the_limit_is_one_piece() {
        assert_eq!(split("hello there", Limit::Chars(11)), ["hello there"]);
        assert_eq!(split("hello there", Limit::Bytes(11)), ["hello there"]);
    }

    #[test]
    fn words_are_not_cut_when_a_space_is_near_the_end() {
        let text = "a one two six ten red big cat dog sun hat";
        let pieces = split(text, Limit::Chars(20));
        assert_eq!(pieces, ["a one two six ten ", "red big cat dog sun ", "hat"]);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn a_newline_in_the_final_fifth_wins_over_a_later_space() {
        // 20 characters: the final fifth is characters 16..20 ("\nb c").
        let text = "aaaaaaaaaaaaaaaa\nb cdddd";
        let pieces = split(text, Limit::Chars(20));
        assert_eq!(pieces, ["aaaaaaaaaaaaaaaa\n", "b cdddd"]);
    }

    #[test]
    fn a_space_before_the_final_fifth_is_not_used() {
        let text = "ab cdefghijklmnopqrstuvwxyz";
        assert_eq!(split(text, Limit::Chars(10)), ["ab cdefghi", "jklmnopqrs", "tuvwxyz"]);
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_at_the_limit() {
        let text = "x".repeat(25);
        let pieces = split(&text, Limit::Chars(10));
        assert_eq!(pieces, ["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
    }

    #[test]
    fn telegram_counts_characters_not_bytes() {
        let text = "😀".repeat(5000);
        let pieces = split(&text, Limit::Chars(4096));
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].chars().count(), 4096);
        assert_eq!(pieces[1].chars().count(), 904);
    }

    #[test]
    fn wechat_counts_bytes_and_never_cuts_inside_a_character() {
        // 3-byte CJK characters: 2048 is not a multiple of 3.
        let text = "你".repeat(1000);
        let pieces = split(&text, Limit::Bytes(2048));
        assert_eq!(pieces.iter().map(String::len).collect::<Vec<_>>(), [2046, 954]);
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn an_emoji_straddling_the_byte_limit_moves_to_the_next_piece() {
        let text = format!("{}😀tail", "a".repeat(8));
        let pieces = split(&text, Limit::Bytes(10));
        assert_eq!(pieces, ["aaaaaaaa", "😀tail"]);
    }

    #[test]
    fn a_wide_space_is_kept_whole_at_the_cut() {
        // U+3000 IDEOGRAPHIC SPACE is 3 bytes, at bytes 24..27 of a 30-byte
        // piece whose final fifth starts at byte 24.
        let text = format!("{}\u{3000}好你好", "你好".repeat(4));
        let pieces = split(&text, Limit::Bytes(30));
        assert_eq!(pieces, [format!("{}\u{3000}", "你好".repeat(4)), "好你好".to_owned()]);
    }

    #[test]
    fn a_character_wider_than_the_limit_goes_alone() {
        assert_eq!(split("😀😀", Limit::Bytes(2)), ["😀", "😀"]);
        assert_eq!(split("ab", Limit::Chars(0)), ["a", "b"]);
    }

    /// A small deterministic generator, so a failure reproduces.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn pieces_always_rebuild_the_text_and_fit() {
        let alphabet = ['a', 'b', 'z', ' ', '\n', 'é', '你', '😀', '\u{3000}', '\t'];
        let mut state = 7;
        for length in 0..400 {
            let text: String =
                (0..length).map(|_| alphabet[next(&mut state) as usize % alphabet.len()]).collect();
            let limits = [
                Limit::Chars(1 + next(&mut state) as usize % 60),
                Limit::Bytes(4 + next(&mut state) as usize % 80),
            ];
            for limit in limits {
                let pieces = split(&text, limit);
                assert_eq!(pieces.concat(), text, "{limit:?} lost or reordered text");
                assert_eq!(pieces.is_empty(), text.is_empty());
                for piece in &pieces {
                    assert!(!piece.is_empty(), "{limit:?} made an empty piece of {text:?}");
                    assert!(fits(piece, limit), "{limit:?} piece too long: {piece:?}");
                }
                if let Limit::Chars(chars) = limit {
                    assert_hard_cuts_had_no_choice(&pieces, chars);
                }
            }
        }
    }

    /// A piece cut at the limit but not after whitespace had no whitespace in
    /// its final fifth.
    fn assert_hard_cuts_had_no_choice(pieces: &[String], chars: usize) {
        let Some((_, earlier)) = pieces.split_last() else { return };
        for piece in earlier {
            let ends_soft = piece.chars().last().is_some_and(char::is_whitespace);
            if !ends_soft {
                let tail: String = piece.chars().skip(chars - chars / 5).collect();
                assert!(!tail.chars().any(char::is_whitespace), "{piece:?} cut a word needlessly");
            }
        }
    }
}
