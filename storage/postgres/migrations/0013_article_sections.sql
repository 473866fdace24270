-- PostgreSQL form of storage/migrations/0013_article_sections.sql.
-- Which sections readers can choose: those with a feed or an article (storage/sections.py `in_use`).
-- Without this index each section would scan every article to find out.
CREATE INDEX articles_section ON articles (section_id);
