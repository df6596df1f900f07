"""The trusted judge: test cells run here, the student's code in the sandbox (docs/architecture.md).

* :mod:`.wire` -- the strict codec for everything that crosses between the two;
* :mod:`.proxy` -- the judge's side: proxies of student objects, the channel;
* :mod:`.serve` -- the student's side: answers the judge's requests;
* :mod:`.sandboxed` -- inside the OS sandbox: the zygote and the per-notebook child;
* :mod:`.runner` -- one notebook: which cell runs where, the judge's namespace, outputs;
* :mod:`.apart` -- in a cold grading command, each worker's judge in a process of its own.

``docs/architecture.md`` draws the processes and what crosses between them.
"""
