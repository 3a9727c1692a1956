"""The capacity report: a judgement (judging/) rendered as HTML, Markdown, JUnit and JSON, with key figures, plots and a baseline comparison."""
