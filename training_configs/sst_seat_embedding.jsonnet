// SEAT on SST as its authors' code trains it: from scratch, all parameters, PGD on the embeddings.
(import 'lib/seat_embedding.libsonnet')((import 'lib/sst.libsonnet')('vanilla'))
