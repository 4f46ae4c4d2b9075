"""The TC260-003 security self-assessment (``gateway assess``).

Test banks in a documented JSONL format (:mod:`bank`), their coverage against the
standard's minimums (:mod:`coverage`) and import from spreadsheets (:mod:`importer`);
seeded stratified sampling (:mod:`sampling`); a resumable runner that sends the questions to
an OpenAI-compatible endpoint (:mod:`runner`, :mod:`client`); a refusal detector
(:mod:`refusal`) and the keyword, classifier and manual judges (:mod:`judges`,
:mod:`manual`); scoring with Wilson intervals (:mod:`scoring`, :mod:`stats`); and the
report in HTML and XLSX (:mod:`report`, :mod:`report_html`, :mod:`report_xlsx`).
See docs/assess.md.
"""
