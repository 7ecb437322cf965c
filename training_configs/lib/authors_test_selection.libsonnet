// SEAT's authors' selection rule (kaustpradalab/SEAT @ 6600fd6, `Trainers/TrainerBC.py:178-186`):
// the epoch of best macro-F1 on the *test* set, with patience counted on it. It is the test set
// that selects, so the test score it reports is optimistic; a results file must say that a run
// used it. Applied to a config that has `test_data_path`: validation becomes the test set, and the
// validation metric its macro-F1 (`macro_f1` of attention_classifier, sklearn's "macro avg" F1).
function(config)
  assert std.objectHas(config, 'test_data_path') : 'authors_test_selection needs a config with test_data_path';
  config {
    validation_data_path: config.test_data_path,
    trainer+: { validation_metric: '+macro_f1' },
  }
