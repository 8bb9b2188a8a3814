//! Byte counts for people: `512 bytes`, `3.4 KB`, `12.0 MB`, `1.2 GB` (powers of 1000, as disks
//! and file managers count), so that small files never show as `0.0 MB`.

/// `bytes` in the largest unit that keeps the number at least 1.
pub fn human_size(bytes: u64) -> String {
    if bytes < 1000 {
        return if bytes == 1 { "1 byte".into() } else { format!("{bytes} bytes") };
    }
    let mut value = bytes as f64 / 1000.0;
    for unit in ["KB", "MB", "GB"] {
        // 999.96 KB would print as 1000.0 KB: that is the next unit's 1.0.
        if value < 999.95 {
            return format!("{value:.1} {unit}");
        }
        value /= 1000.0;
    }
    format!("{:.1} TB", value)
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_use_the_unit_that_fits() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1000), "1.0 KB");
        assert_eq!(human_size(2_345), "2.3 KB");
        assert_eq!(human_size(999_960), "1.0 MB");
        assert_eq!(human_size(12_000_000), "12.0 MB");
        assert_eq!(human_size(1_200_000_000), "1.2 GB");
        assert_eq!(human_size(3_000_000_000_000), "3.0 TB");
    }
}
