// FLAT's "-adv" baseline on SST (its Table 2-3 rows "LSTM-adv"): traditional adversarial training,
// L(x) + L(x') (FLAT's Eq. 5) on the same synonym substitutes x' as sst_flat.jsonnet, no word masks.
(import 'lib/flat.libsonnet')((import 'lib/sst.libsonnet')('vanilla'), word_masks=false, entropy_weight=0.0, importance_weight=0.0)
