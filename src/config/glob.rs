//! Glob matching for model routes, model allow-lists and pricing patterns: `*` matches any run
//! of characters (including none), `?` exactly one; everything else matches itself.

/// Whether all of `text` matches `pattern`. Iterative, backtracking only to the last `*`:
/// O(pattern × text) at worst, no recursion and no allocation.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0usize, 0usize);
    // The last `*` seen, and the text position its match currently ends at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&text_byte) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += utf8_char_len(text_byte);
            }
            // Both sides are valid UTF-8, so equal bytes in sequence are equal characters.
            Some(&pattern_byte) if pattern_byte == text_byte => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    let next = star_t + text.get(star_t).map_or(1, |&b| utf8_char_len(b));
                    star = Some((star_p, next));
                    p = star_p + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

/// Length of the UTF-8 character that starts with `lead`.
fn utf8_char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}
