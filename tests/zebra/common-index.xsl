<?xml version="1.0" encoding="UTF-8"?>
<!-- Shared index helpers: ISBN cleaning as Koha's indexing does it (the qualifier, price and
     an "ISBN" prefix dropped, hyphens removed, x upper-cased); no ISBN-10/13 folding, so the
     server matches only the form as catalogued, like real ones. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:z="http://indexdata.com/zebra-2.0">
  <xsl:template name="clean-isbn">
    <xsl:param name="s"/>
    <xsl:variable name="wide" select="translate($s, '０１２３４５６７８９Ｘｘ', '0123456789XX')"/>
    <xsl:variable name="trimmed" select="normalize-space($wide)"/>
    <xsl:variable name="body">
      <xsl:choose>
        <xsl:when test="starts-with($trimmed, 'ISBN')"><xsl:value-of select="normalize-space(translate(substring-after($trimmed, 'ISBN'), ':', ' '))"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$trimmed"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="cut" select="substring-before(concat(translate($body, ' (（:：;$', '|||||||'), '|'), '|')"/>
    <xsl:value-of select="translate($cut, 'x-', 'X')"/>
  </xsl:template>

  <xsl:template name="index">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:if test="normalize-space($value) != ''">
      <z:index name="{$name}"><xsl:value-of select="normalize-space($value)"/></z:index>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
