// SEAT on SST from the vanilla SST model. Another vanilla archive:
//   allennlp train training_configs/sst_seat.jsonnet -s runs/sst_methods/seat -o '{"model.vanilla_archive": "PATH"}'
(import 'lib/seat.libsonnet')(
  (import 'lib/sst.libsonnet')('vanilla'),
  vanilla_archive='runs/sst_methods/vanilla/model.tar.gz',
)
