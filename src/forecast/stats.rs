//! Robust statistics on plain slices: medians, spread, variance, lines and moving-average
//! trends (segment by segment across level shifts).

/// The trend of `values` segment by segment, `breaks` being the ascending indices where a new
/// segment starts: a centred moving average of `window` within a segment long enough for it,
/// a least-squares line through a shorter one. A moving average across a level shift would
/// turn the step into a ramp a window wide.
pub fn segmented_trend(values: &[f64], window: usize, breaks: &[usize]) -> Vec<f64> {
    let n = values.len();
    let mut trend = Vec::with_capacity(n);
    let mut start = 0;
    for end in breaks.iter().copied().filter(|&b| b > 0 && b < n).chain([n]) {
        if end <= start {
            continue;
        }
        let segment = &values[start..end];
        if segment.len() >= window.max(2) {
            trend.extend(moving_average(segment, window));
        } else {
            let (intercept, slope) = least_squares_line(segment);
            trend.extend((0..segment.len()).map(|i| intercept + slope * i as f64));
        }
        start = end;
    }
    trend
}

/// Least-squares `(intercept, slope)` of `values` against their index.
pub fn least_squares_line(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.len() < 2 {
        return (values.first().copied().unwrap_or(0.0), 0.0);
    }
    let mean_t = (n - 1.0) / 2.0;
    let (mut sum_y, mut sum_ty) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        sum_y += v;
        sum_ty += i as f64 * v;
    }
    let mean_y = sum_y / n;
    // Σ (t − t̄)² over 0..n is n (n² − 1) / 12.
    let var = n * (n * n - 1.0) / 12.0;
    let cov = sum_ty - n * mean_t * mean_y;
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    (mean_y - slope * mean_t, slope)
}

/// Centred moving average with window `window`. Where the window would run past either end,
/// the trend is extended linearly from the nearest full windows instead: a partial window over
/// a seasonal series is biased by the part of the cycle it happens to cover.
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let n = values.len();
    let window = window.clamp(1, n.max(1));
    let half = window / 2;
    // Grid points whose whole window lies inside the series.
    let first_full = half;
    let last_full = (n + half).saturating_sub(window);
    if n < window || last_full < first_full + 1 {
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        return vec![mean; n];
    }
    let mut out = vec![0.0; n];
    // A running sum slides over the series; it is recomputed every few thousand steps so that
    // rounding errors cannot accumulate.
    let scale = 1.0 / window as f64;
    let mut i = first_full;
    while i <= last_full {
        let stop = (i + 4096).min(last_full + 1);
        let lo = i - half;
        let mut sum: f64 = values[lo..lo + window].iter().sum();
        out[i] = sum * scale;
        // Entering and leaving values for the points after `i`, up to `stop`.
        let entering = &values[lo + window..stop - half + window - 1];
        let leaving = &values[lo..stop - half - 1];
        for ((slot, enter), leave) in out[i + 1..stop].iter_mut().zip(entering).zip(leaving) {
            sum += enter - leave;
            *slot = sum * scale;
        }
        i = stop;
    }
    // Slopes over up to half a window of full values at each end.
    let span = half.max(1).min(last_full - first_full);
    let head_slope = (out[first_full + span] - out[first_full]) / span as f64;
    let tail_slope = (out[last_full] - out[last_full - span]) / span as f64;
    for i in 0..first_full {
        out[i] = out[first_full] - head_slope * (first_full - i) as f64;
    }
    for i in last_full + 1..n {
        out[i] = out[last_full] + tail_slope * (i - last_full) as f64;
    }
    out
}

/// The median of `values` (reordered in place); 0 for an empty slice.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    // Seasonal profiles take thousands of medians of four (weeks) or eight (days) values:
    // those have branch-free forms.
    if let &mut [a, b, c, d] = values
        && !(a.is_nan() || b.is_nan() || c.is_nan() || d.is_nan())
    {
        let low = a.min(b).min(c.min(d));
        let high = a.max(b).max(c.max(d));
        return (a + b + c + d - low - high) / 2.0;
    }
    if values.len() == 8 && values.iter().all(|v| !v.is_nan()) {
        return small_median(values);
    }
    let mid = values.len() / 2;
    // An insertion sort beats the general selection algorithm on a few values.
    if values.len() <= 16 {
        for i in 1..values.len() {
            let mut j = i;
            while j > 0 && values[j - 1].total_cmp(&values[j]).is_gt() {
                values.swap(j - 1, j);
                j -= 1;
            }
        }
        return if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
    }
    let (_, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if values.len() % 2 == 1 {
        upper
    } else {
        let lower = values[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// The median of `values` and their median absolute deviation from it (`values` end up
/// sorted). After sorting, the deviations fall toward the median and rise after it: their
/// median is found by walking outward from the middle, without a second sort.
pub fn median_and_mad(values: &mut [f64]) -> (f64, f64) {
    let k = values.len();
    if k == 0 {
        return (0.0, 0.0);
    }
    if k == 8 && values.iter().all(|v| !v.is_nan()) {
        sort8(values);
    } else if k == 4 && values.iter().all(|v| !v.is_nan()) {
        for (a, b) in [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)] {
            let (low, high) = (values[a].min(values[b]), values[a].max(values[b]));
            values[a] = low;
            values[b] = high;
        }
    } else {
        values.sort_unstable_by(f64::total_cmp);
    }
    let center = if k % 2 == 1 {
        values[k / 2]
    } else {
        (values[k / 2 - 1] + values[k / 2]) / 2.0
    };
    // Merge the two monotone runs of deviations, smallest first, up to the middle one(s).
    let (mut left, mut right) = (k / 2, k / 2);
    let mut next = || {
        let from_left = (left > 0).then(|| center - values[left - 1]);
        let from_right = (right < k).then(|| values[right] - center);
        match (from_left, from_right) {
            (Some(l), Some(r)) if l <= r => {
                left -= 1;
                l
            }
            (Some(l), None) => {
                left -= 1;
                l
            }
            (_, Some(r)) => {
                right += 1;
                r
            }
            (None, None) => 0.0,
        }
    };
    let mut previous = 0.0;
    for _ in 0..(k - 1) / 2 {
        previous = next();
    }
    let mad = if k % 2 == 1 {
        next()
    } else {
        let lower = if k >= 2 { next() } else { previous };
        let upper = next();
        (lower + upper) / 2.0
    };
    (center, mad.abs())
}

/// Sorts 8 values without NaN with a sorting network (no branches to mispredict).
fn sort8(values: &mut [f64]) {
    const NETWORK: [(usize, usize); 19] = [
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (1, 2),
        (5, 6),
        (0, 4),
        (3, 7),
        (1, 5),
        (2, 6),
        (1, 4),
        (3, 6),
        (2, 4),
        (3, 5),
        (3, 4),
    ];
    for (a, b) in NETWORK {
        let (low, high) = (values[a].min(values[b]), values[a].max(values[b]));
        values[a] = low;
        values[b] = high;
    }
}

/// The median of 8 values without NaN, through a sorting network.
fn small_median(values: &[f64]) -> f64 {
    let mut sorted = [0.0; 8];
    sorted.copy_from_slice(values);
    sort8(&mut sorted);
    (sorted[3] + sorted[4]) / 2.0
}

/// Population variance; 0 for fewer than two values.
pub fn variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
}
