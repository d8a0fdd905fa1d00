"""From scores to what the product says: statuses, the validated scope, the series rule, montages,
neighbouring views."""
