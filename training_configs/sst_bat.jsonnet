(import 'lib/bat.libsonnet')((import 'lib/sst.libsonnet')('vanilla'))
