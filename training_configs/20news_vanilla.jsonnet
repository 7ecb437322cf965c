(import 'lib/20news.libsonnet')('vanilla')
