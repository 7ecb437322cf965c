"""Studies over seeds and their reports: Table 2, grid sweeps, the robustness table, records of
finished runs (with provenance), statistics over seeds, results files regenerated from records, and
figures. Below `tune` (the allentune-compatible search) and `commands`; imports neither."""
