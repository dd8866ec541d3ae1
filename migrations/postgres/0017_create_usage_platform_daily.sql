-- A day's figures summed over discs, per scope and Data_Type (issue 22): what a Platform
-- Report reads, so twelve months of a consortium's usage is a few thousand rows rather than
-- every disc's. Written by the rollup in the same transaction as usage_daily, from it; the
-- metrics are sums of the per-disc figures (COUNTER's platform uniques are sums of items').
CREATE TABLE usage_platform_daily (
    day             TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    data_type       TEXT NOT NULL,
    tii             BIGINT NOT NULL,
    tir             BIGINT NOT NULL,
    uii             BIGINT NOT NULL,
    uir             BIGINT NOT NULL,
    no_license      BIGINT NOT NULL,
    limit_exceeded  BIGINT NOT NULL,
    views           BIGINT NOT NULL,
    downloads       BIGINT NOT NULL,
    launches        BIGINT NOT NULL,
    PRIMARY KEY (member_id, day, data_type)
);
INSERT INTO usage_platform_daily
SELECT day, member_id, data_type, SUM(tii), SUM(tir), SUM(uii), SUM(uir), SUM(no_license),
       SUM(limit_exceeded), SUM(views), SUM(downloads), SUM(launches)
FROM usage_daily GROUP BY day, member_id, data_type;
