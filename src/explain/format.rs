//! How numbers and indices are written in derivations.

/// A short, readable number: 4 significant digits, fixed-point in [1e-4, 1e6) so that
/// neighbouring terms read alike ("0.0009457" beside "0.004724"), scientific outside
/// ("2.278e31", "1.5e-5"). Numbers keep the ASCII minus, as export and diff print them.
pub fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if (1e-4..1e6).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 7) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s == "-0" { "0".into() } else { s }
    } else {
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}

/// The exact value, as short as it can be written without losing a digit: Rust's
/// shortest round-trip form, scientific for |v| ≥ 1e6 or |v| < 1e-4
/// ("0.053696773255078115", "-4.3745030829072217e40").
pub fn exact(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return short(v);
    }
    if (1e-4..1e6).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// An index expression of a strided, padded convolution, as simple as the layer allows:
/// "i+u" (stride 1, no padding), "i·2+u", "i+u−1", "i·2+u−1".
pub fn index_expr(out: &str, stride: usize, tap: &str, padding: usize) -> String {
    let mut s = out.to_string();
    if stride != 1 {
        s.push_str(&format!("·{stride}"));
    }
    s.push('+');
    s.push_str(tap);
    if padding != 0 {
        s.push_str(&format!("−{padding}"));
    }
    s
}

/// "[0,3,4]"
pub fn idx(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(","))
}
