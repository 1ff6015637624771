def from_rraes(*a, **k): raise NotImplementedError
