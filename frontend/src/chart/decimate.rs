//! Point reduction before drawing: a chart cannot show more than one value per pixel column,
//! so each series is cut into `columns` equal time slices and each slice keeps its first,
//! minimum, maximum and last points (in time order). Spikes survive (unlike averaging or
//! sampling), the line's shape is exact at pixel resolution, and drawing cost is bounded by
//! the canvas width instead of the number of points: 1 M points draw like 4 × width points.

/// Reduces `points` (sorted by time) to at most `4 × columns` points.
pub fn min_max_per_column(points: &[[f64; 2]], columns: usize) -> Vec<[f64; 2]> {
    if columns == 0 || points.len() <= columns.saturating_mul(4) {
        return points.to_vec();
    }
    let (t0, t1) = (points[0][0], points[points.len() - 1][0]);
    let span = (t1 - t0).max(f64::MIN_POSITIVE);
    let mut out = Vec::with_capacity(columns * 4);
    let mut i = 0;
    while i < points.len() {
        let column = (((points[i][0] - t0) / span) * columns as f64).min(columns as f64 - 1.0) as usize;
        let start = i;
        let (mut min_i, mut max_i) = (i, i);
        while i < points.len()
            && (((points[i][0] - t0) / span) * columns as f64).min(columns as f64 - 1.0) as usize == column
        {
            if points[i][1] < points[min_i][1] {
                min_i = i;
            }
            if points[i][1] > points[max_i][1] {
                max_i = i;
            }
            i += 1;
        }
        let end = i - 1;
        let mut keep = [start, min_i, max_i, end];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(points[k]);
                last = k;
            }
        }
    }
    out
}

/// Index of the point nearest in time to `t` (points sorted by time).
pub fn nearest(points: &[[f64; 2]], t: f64) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    let i = points.partition_point(|p| p[0] < t);
    if i == 0 {
        return Some(0);
    }
    if i >= points.len() {
        return Some(points.len() - 1);
    }
    Some(if (points[i][0] - t).abs() < (t - points[i - 1][0]).abs() { i } else { i - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_and_bounds_the_count() {
        let mut points: Vec<[f64; 2]> =
            (0..100_000).map(|i| [f64::from(i), (f64::from(i) / 50.0).sin()]).collect();
        points[54_321][1] = 99.0; // a spike
        points[12_345][1] = -99.0;
        let out = min_max_per_column(&points, 500);
        assert!(out.len() <= 2000, "{}", out.len());
        assert!(out.iter().any(|p| p[1] == 99.0) && out.iter().any(|p| p[1] == -99.0), "spikes survive");
        assert_eq!(out.first(), points.first());
        assert_eq!(out.last(), points.last());
        assert!(out.windows(2).all(|w| w[0][0] < w[1][0]), "time order kept");
    }

    #[test]
    fn small_series_are_untouched() {
        let points = vec![[0.0, 1.0], [1.0, 2.0]];
        assert_eq!(min_max_per_column(&points, 100), points);
    }

    #[test]
    fn nearest_point() {
        let points = vec![[0.0, 0.0], [10.0, 1.0], [20.0, 2.0]];
        assert_eq!(nearest(&points, -5.0), Some(0));
        assert_eq!(nearest(&points, 14.0), Some(1));
        assert_eq!(nearest(&points, 16.0), Some(2));
        assert_eq!(nearest(&points, 99.0), Some(2));
        assert_eq!(nearest(&[], 1.0), None);
    }
}
