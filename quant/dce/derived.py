def build_derived_datasets(*a, **k): raise NotImplementedError
