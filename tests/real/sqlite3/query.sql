-- The second process: the database file written by the first, read again.
.bail on
.headers on
.mode column
SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name;
PRAGMA integrity_check;
SELECT count(*) AS orders, round(sum(amount), 2) AS total FROM orders;
SELECT item, count(*) AS n, round(avg(amount), 3) AS mean FROM orders GROUP BY item ORDER BY item LIMIT 4;
SELECT customer_id, count(*) AS n FROM orders WHERE customer_id IN (1, 17, 200) GROUP BY customer_id;
SELECT sqrt(16.0) AS root, printf('%.3e', 12345.678) AS sci, upper('ok') AS up, length(hex(randomblob(8))) AS hexlen;
