(import 'lib/flat.libsonnet')((import 'lib/sst.libsonnet')('vanilla'))
