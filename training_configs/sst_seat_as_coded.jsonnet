// SEAT on SST as its authors' code trains it (lib/seat_as_coded.libsonnet), selected on validation F1.
// pos_weight: 3310 negative / 3610 positive SST training sentences. The λ2 sweep overrides model.top_k_weight.
(import 'lib/seat_as_coded.libsonnet')((import 'lib/sst.libsonnet')('vanilla'), positive_class_weight=3310 / 3610)
