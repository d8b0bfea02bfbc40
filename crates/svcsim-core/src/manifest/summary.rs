//! Warnings people read: the "not modelled" warnings of one field on one kind of object, which a
//! real manifest repeats for every container (`securityContext`, `resources`, …), folded into
//! one line with a count and the first place. Nothing is lost: the load keeps every warning, and
//! `svcsim check --verbose` prints them one by one.

use super::read::{Diagnostic, NOT_MODELLED, Severity, UNKNOWN_IMAGE};

/// `diags` with each run of same-field "not modelled" warnings on one kind of object folded into
/// its first occurrence, counted; every other diagnostic as it is, in the same order.
pub fn grouped(diags: &[Diagnostic]) -> Vec<Diagnostic> {
    // (kind, field without list indices) → (index into `out`, count)
    let mut groups: Vec<((String, String), usize, usize)> = Vec::new();
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags {
        let Some(key) = key(d) else {
            out.push(d.clone());
            continue;
        };
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, count)) => *count += 1,
            None => {
                groups.push((key, out.len(), 1));
                out.push(d.clone());
            }
        }
    }
    fold_unknown_images(&mut out);
    for ((kind, _), at, count) in groups {
        if count > 1 {
            let d = &mut out[at];
            d.message =
                format!("{NOT_MODELLED} ({count} times in {kind}s, first here; `svcsim check --verbose` lists each)");
        }
    }
    out
}

/// The notes about images svcsim does not know, one per container, as one note at the first:
/// "nginx, redis and 3 more are not apps svcsim knows: …".
fn fold_unknown_images(out: &mut Vec<Diagnostic>) {
    let image_of = |d: &Diagnostic| {
        (d.severity == Severity::Note).then(|| d.message.strip_suffix(UNKNOWN_IMAGE)).flatten().map(str::to_string)
    };
    let mut images: Vec<String> = Vec::new();
    let mut first = None;
    out.retain(|d| match image_of(d) {
        Some(img) => {
            if !images.contains(&img) {
                images.push(img);
            }
            let keep = first.is_none();
            first.get_or_insert(());
            keep
        }
        None => true,
    });
    if images.len() < 2 {
        return;
    }
    let named = match images.len() {
        2 => format!("{} and {}", images[0], images[1]),
        n => format!("{}, {} and {} more", images[0], images[1], n - 2),
    };
    let plural = UNKNOWN_IMAGE.replacen(" is not an app", " are not apps", 1).replacen("it runs", "they run", 1);
    if let Some(d) = out.iter_mut().find(|d| image_of(d).is_some()) {
        d.message = format!("{named}{plural}");
    }
}

/// The group a warning belongs to: its object's kind and its field with list indices removed.
fn key(d: &Diagnostic) -> Option<(String, String)> {
    if d.severity != Severity::Warning || d.message != NOT_MODELLED {
        return None;
    }
    let kind = d.object.as_deref().and_then(|o| o.split(' ').next()).unwrap_or("document").to_string();
    let mut field = String::with_capacity(d.path.len());
    let mut in_index = false;
    for c in d.path.chars() {
        match c {
            '[' => {
                in_index = true;
                field.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => field.push(c),
        }
    }
    Some((kind, field))
}
