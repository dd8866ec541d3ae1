<?xml version="1.0" encoding="UTF-8"?>
<!-- UNIMARC / CNMARC records (in the MARC21 slim namespace, as Koha and Chinese exports
     write them) to Zebra indexes (names as in bib1.att). -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:m="http://www.loc.gov/MARC21/slim" xmlns:z="http://indexdata.com/zebra-2.0"
    exclude-result-prefixes="m">
  <xsl:include href="common-index.xsl"/>
  <xsl:output method="xml" indent="yes" encoding="UTF-8"/>

  <xsl:template match="/m:record">
    <z:record z:id="{m:controlfield[@tag='001']}" z:type="update">
      <xsl:for-each select="m:datafield[@tag='010']/m:subfield[@code='a' or @code='z']">
        <z:index name="ISBN:w"><xsl:call-template name="clean-isbn"><xsl:with-param name="s" select="."/></xsl:call-template></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='200']">
        <xsl:call-template name="index">
          <xsl:with-param name="name">Title:w Title:p Title:s</xsl:with-param>
          <xsl:with-param name="value"><xsl:for-each select="m:subfield[@code='a' or @code='e' or @code='h' or @code='i']"><xsl:value-of select="."/><xsl:text> </xsl:text></xsl:for-each></xsl:with-param>
        </xsl:call-template>
        <xsl:call-template name="index"><xsl:with-param name="name">Title:w</xsl:with-param><xsl:with-param name="value" select="m:subfield[@code='9']"/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '5')]/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Title:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='200']/m:subfield[@code='f' or @code='g'] | m:datafield[@tag='700' or @tag='701' or @tag='702' or @tag='710' or @tag='711' or @tag='712']/m:subfield[@code='a' or @code='b' or @code='9']">
        <xsl:call-template name="index"><xsl:with-param name="name">Author:w Author:p</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='210' or @tag='214']/m:subfield[@code='c']">
        <xsl:call-template name="index"><xsl:with-param name="name">Publisher:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:variable name="d100" select="substring(m:datafield[@tag='100']/m:subfield[@code='a'], 10, 4)"/>
      <xsl:choose>
        <xsl:when test="string-length(translate($d100, '0123456789', '')) = 0 and string-length($d100) = 4">
          <z:index name="Date-of-publication:w Date-of-publication:n Date-of-publication:s"><xsl:value-of select="$d100"/></z:index>
        </xsl:when>
        <xsl:otherwise>
          <xsl:for-each select="(m:datafield[@tag='210' or @tag='214'])[1]/m:subfield[@code='d']">
            <z:index name="Date-of-publication:w Date-of-publication:n Date-of-publication:s"><xsl:value-of select="substring(translate(., translate(., '0123456789', ''), ''), 1, 4)"/></z:index>
          </xsl:for-each>
        </xsl:otherwise>
      </xsl:choose>
      <xsl:for-each select="m:controlfield[@tag='001'] | m:datafield[@tag='090']/m:subfield[@code='9']">
        <z:index name="Local-number:w Local-number:0"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='905']/m:subfield[@code='b'] | m:datafield[@tag='995']/m:subfield[@code='f']">
        <z:index name="Stock-number:w Stock-number:0"><xsl:value-of select="."/></z:index>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='905']">
        <xsl:call-template name="index"><xsl:with-param name="name">Number-local-call:w</xsl:with-param><xsl:with-param name="value" select="concat(m:subfield[@code='d'], ' ', m:subfield[@code='e'])"/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='995']/m:subfield[@code='k']">
        <xsl:call-template name="index"><xsl:with-param name="name">Number-local-call:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='690' or @tag='692' or @tag='681' or @tag='686']/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Local-classification:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag='215']/m:subfield[@code='a' or @code='e']">
        <xsl:call-template name="index"><xsl:with-param name="name">Material-type:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '4')]/m:subfield[@code='0' or @code='t']">
        <xsl:call-template name="index"><xsl:with-param name="name">Host-item:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[starts-with(@tag, '3')]/m:subfield[@code='a']">
        <xsl:call-template name="index"><xsl:with-param name="name">Note:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield[@tag &gt;= 600 and @tag &lt;= 610]/m:subfield">
        <xsl:call-template name="index"><xsl:with-param name="name">Subject-heading:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
      <xsl:for-each select="m:datafield/m:subfield | m:controlfield[@tag='001']">
        <xsl:call-template name="index"><xsl:with-param name="name">Any:w</xsl:with-param><xsl:with-param name="value" select="."/></xsl:call-template>
      </xsl:for-each>
    </z:record>
  </xsl:template>
</xsl:stylesheet>
