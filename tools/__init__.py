"""Tools a model can use: retrievers, the program sandbox, the tool registry, the ReAct loop."""
