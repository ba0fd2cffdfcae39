//! Keeping a batch response under Lambda's payload limit by giving up as few records as possible.
//!
//! Firehose rejects a whole batch whose response is too large and retries it, which fails the
//! same way forever; answering a few records `ProcessingFailed` (their original data goes to the
//! error prefix, so nothing is lost) is the only answer that makes progress.

/// Bytes of `{"records":[` and `]}` around the comma-separated answers.
const ENVELOPE: usize = "{\"records\":[]}".len();

/// The serialized size of a `{"records":[...]}` response with answers of these lengths.
pub fn response_len(lengths: &[usize]) -> usize {
    ENVELOPE + lengths.iter().sum::<usize>() + lengths.len().saturating_sub(1)
}

/// Chooses which answers to shrink so the response fits `limit`.
///
/// `candidates` are `(index, bytes saved by shrinking it)`. Taking the largest savings first
/// shrinks the fewest answers, so the most records stay `Ok`; among equal savings the later
/// records go first. Returns a mask over `lengths`: `true` for the answers to shrink.
pub fn choose_to_shrink(
    lengths: &[usize],
    candidates: &[(usize, usize)],
    limit: usize,
) -> Vec<bool> {
    let mut chosen = vec![false; lengths.len()];
    let mut total = response_len(lengths);
    let mut order: Vec<&(usize, usize)> = candidates
        .iter()
        .filter(|(i, _)| *i < lengths.len())
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    for &(index, saving) in order {
        if total <= limit {
            break;
        }
        chosen[index] = true;
        total -= saving.min(total);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_and_commas_are_counted() {
        assert_eq!(response_len(&[]), "{\"records\":[]}".len());
        assert_eq!(response_len(&[3]), "{\"records\":[abc]}".len());
        assert_eq!(response_len(&[3, 2]), "{\"records\":[abc,de]}".len());
    }

    #[test]
    fn nothing_is_shrunk_when_it_fits() {
        let lengths = [100, 100];
        let limit = response_len(&lengths);
        assert_eq!(
            choose_to_shrink(&lengths, &[(0, 50), (1, 50)], limit),
            [false, false]
        );
    }

    #[test]
    fn largest_savings_go_first_so_the_fewest_records_fail() {
        // Over by 60: shrinking record 2 alone (saves 70) is enough; 0 and 1 (30 each) also
        // would be, but that gives up two records.
        let lengths = [100, 100, 100, 100];
        let limit = response_len(&lengths) - 60;
        let chosen = choose_to_shrink(&lengths, &[(0, 30), (1, 30), (2, 70), (3, 10)], limit);
        assert_eq!(chosen, [false, false, true, false]);
    }

    #[test]
    fn keeps_shrinking_until_it_fits() {
        let lengths = [100; 5];
        let limit = response_len(&lengths) - 100;
        let candidates: Vec<_> = (0..5).map(|i| (i, 40)).collect();
        let chosen = choose_to_shrink(&lengths, &candidates, limit);
        assert_eq!(chosen.iter().filter(|c| **c).count(), 3);
        // Equal savings: the later records are given up first.
        assert_eq!(chosen, [false, false, true, true, true]);
    }

    #[test]
    fn shrinks_everything_it_can_when_the_limit_is_unreachable() {
        let chosen = choose_to_shrink(&[100, 100], &[(0, 10), (1, 10), (7, 10)], 0);
        assert_eq!(chosen, [true, true]);
    }
}
