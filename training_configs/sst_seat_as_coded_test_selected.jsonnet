// SEAT on SST as its authors' code trains it, with the authors' selection rule: the epoch of best
// test macro-F1 (lib/authors_test_selection.libsonnet). Its test numbers are selected on the test set.
(import 'lib/seat_as_coded.libsonnet')((import 'lib/sst.libsonnet')('vanilla'), positive_class_weight=3310 / 3610,
                                        authors_test_selection=true)
