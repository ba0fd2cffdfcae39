//! Keeping a batch's answer under Lambda's payload limit by giving up as little as possible.
//!
//! Lambda refuses a response over 6,291,456 bytes, and Firehose then retries the batch, which
//! fails the same way every time. Two things make room without losing data: a `Dropped` answer
//! need not carry its data back, and an `Ok` record can be answered `ProcessingFailed` with its
//! original data (Firehose writes it to the error prefix). When even that is not enough, as with
//! a batch of many tiny failing records whose answers outgrow the request, the invocation fails
//! with a clear error instead of sending an answer Lambda would refuse.

/// Lambda's limit on a synchronous invocation's response payload.
pub(crate) const LAMBDA_RESPONSE_LIMIT: usize = 6_291_456;

/// Chooses candidates, `(index, bytes saved by shrinking it)`, until `total` fits `limit`;
/// `total` is lowered by what the chosen save. Taking the largest savings first shrinks the
/// fewest answers, so the most records keep their result; among equal savings the later records
/// go first. Returns the chosen indexes.
pub(crate) fn choose(
    candidates: &mut [(usize, usize)],
    total: &mut usize,
    limit: usize,
) -> Vec<usize> {
    candidates.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut chosen = Vec::new();
    for &(index, saving) in candidates.iter() {
        if *total <= limit {
            break;
        }
        chosen.push(index);
        *total -= saving.min(*total);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_chosen_when_it_fits() {
        let mut total = 200;
        assert!(choose(&mut [(0, 50), (1, 50)], &mut total, 200).is_empty());
        assert_eq!(total, 200);
    }

    #[test]
    fn largest_savings_go_first_so_the_fewest_records_change() {
        // Over by 60: record 2 alone (saves 70) is enough; 0 and 1 (30 each) would also be,
        // but that changes two records.
        let mut total = 460;
        let chosen = choose(&mut [(0, 30), (1, 30), (2, 70), (3, 10)], &mut total, 400);
        assert_eq!(chosen, [2]);
        assert_eq!(total, 390);
    }

    #[test]
    fn keeps_choosing_until_it_fits_later_records_first_among_equals() {
        let mut total = 500;
        let mut candidates: Vec<_> = (0..5).map(|i| (i, 40)).collect();
        let chosen = choose(&mut candidates, &mut total, 400);
        assert_eq!(chosen, [4, 3, 2]);
    }

    #[test]
    fn chooses_everything_when_the_limit_is_unreachable_and_says_what_is_left() {
        let mut total = 200;
        let chosen = choose(&mut [(0, 10), (1, 10)], &mut total, 0);
        assert_eq!(chosen.len(), 2);
        assert_eq!(total, 180);
    }
}
